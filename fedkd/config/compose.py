"""Compose the experiment config from `configs/` plus overrides (the path used by `flwr run`)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fedkd.errors import UserError
from fedkd.paths import config_dir


def one_line(message: str) -> str:
    """Collapse a multi-line library message into one line."""
    message = message.split("Config search path:")[0].split("Set the environment variable")[0]
    return re.sub(r"\s+", " ", message).strip()


def compose_config(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose `configs/<config_name>.yaml` with Hydra overrides; raise UserError on any composition error."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        message = str(err) or str(err.__cause__ or "") or type(err).__name__
        raise UserError(one_line(message)) from None


def overrides_from_run_config(run_config: Mapping[str, Any]) -> list[str]:
    """The Hydra overrides carried in a Flower run config (`overrides = "k=v k2=v2"`)."""
    return shlex.split(str(run_config.get("overrides", "")))


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """Resolved plain-dict copy of a config."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
