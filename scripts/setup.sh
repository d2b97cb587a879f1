#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment. Idempotent: does nothing when the
# environment already matches pyproject.toml and constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FEDKD_VENV:-.venv}"
python="${PYTHON:-python3}"
stamp_file="$venv/.fedkd-stamp"
stamp="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
    exit 0
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: fedkd needs Python >= 3.11 (found $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 2
fi
echo "fedkd: setting up $venv (first run takes a few minutes) ..." >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored: it is neither" >&2 || true
# torch first, pinned by constraints.txt, so that no dependency can drag in another build.
"$venv/bin/python" -m pip install -q -c constraints.txt torch torchvision 2>&1 | grep -v "is ignored: it is neither" >&2 || true
"$venv/bin/python" -m pip install -q -c constraints.txt -e ".[dev]" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
"$venv/bin/python" -c 'import torch, torchvision, flwr, opacus, hydra, fedkd' || {
    echo "error: the environment in $venv is incomplete; delete it and run scripts/setup.sh again" >&2
    exit 1
}
echo "$stamp" > "$stamp_file"
