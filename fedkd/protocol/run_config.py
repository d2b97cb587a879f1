"""Keys of a Flower run config (`[tool.flwr.app.config]` in pyproject.toml) and of a SuperNode's node config."""

from __future__ import annotations

# Run config
OVERRIDES = "overrides"              # Hydra overrides of configs/config.yaml, space separated
OUTPUT_ROOT = "output-root"          # absolute folder for run directories; empty: output.root
DATA_SHAPE = "data-shape"            # "channels,side,classes": the ServerApp builds the model without the data

# Node config
PARTITION_ID = "partition-id"
NUM_PARTITIONS = "num-partitions"
DATA_FILE = "data-file"              # the SuperNode's own partition file (deployments)
CLIENT_WORKER = "client-worker"      # "warm": one long-lived fedkd process per node runs every message
CLIENT_WORKER_IDLE = "client-worker-idle"  # seconds the warm worker waits for a message before it exits
WARM, PER_MESSAGE = "warm", "per-message"  # the values of client-worker; absent means per-message
CLIENT_WORKERS = (WARM, PER_MESSAGE)
