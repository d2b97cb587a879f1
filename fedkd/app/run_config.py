"""Read the experiment config from a Flower Context.

Under `flwr run`, the Hydra overrides travel in the run config (`overrides = "..."`); under the
`fedkd-sim` launcher, the apps are built with the checked config directly. In a deployment whose
SuperNodes hold the data, `data-shape = "C,S,K"` (channels, input side, classes) lets the ServerApp build
the model without loading the data set itself.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flwr.app import Context

from fedkd.app.experiment_config import FederatedConfig, load_federated
from fedkd.config.compose import overrides_from_run_config
from fedkd.data.image_data import DataShape
from fedkd.errors import UserError
from fedkd.paths import expand
from fedkd.protocol.run_config import DATA_SHAPE, OUTPUT_ROOT


@lru_cache(maxsize=8)
def _config_for(overrides: tuple[str, ...]) -> FederatedConfig:
    return load_federated(overrides)


def config_from_context(context: Context) -> FederatedConfig:
    return _config_for(tuple(overrides_from_run_config(context.run_config)))


def output_root_from_context(context: Context) -> Path | None:
    root = str(context.run_config.get(OUTPUT_ROOT, "")).strip()
    return expand(root) if root else None


def data_shape_from_context(context: Context) -> DataShape | None:
    text = str(context.run_config.get(DATA_SHAPE, "")).strip()
    if not text:
        return None
    try:
        channels, side, classes = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"{DATA_SHAPE}={text!r} is invalid; give channels,side,classes, e.g. {DATA_SHAPE}='1,8,10' "
                        "(fedkd-deploy --write-partitions prints it)") from None
    if min(channels, side, classes) < 1:
        raise UserError(f"{DATA_SHAPE}={text!r} is invalid; all three values must be >= 1")
    return channels, side, classes
