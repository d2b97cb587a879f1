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
