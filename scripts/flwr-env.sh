# Environment for the Flower CLI on an offline machine (source this file). The background
# SuperLink that `flwr run` starts inherits these values, so set them before the first run.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$here/${FEDKD_VENV:-.venv}/bin:$PATH"
export FLWR_HOME="${FLWR_HOME:-$here/.flwr-home}"
export FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1
export FLWR_DISABLE_UPDATE_CHECK=1
export FLWR_TELEMETRY_ENABLED=0
export RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=0
export FLWR_LOG_LEVEL="${FLWR_LOG_LEVEL:-WARNING}"
