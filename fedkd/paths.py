"""Locations the project reads from: the Hydra config tree and the data cache."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The `data_cache` default of every command: $FEDKD_CACHE_DIR, else ~/.cache/fedkd (an OmegaConf interpolation).
DATA_CACHE = "${oc.env:FEDKD_CACHE_DIR,'~/.cache/fedkd'}"


def config_dir() -> Path:
    """The Hydra config tree (`configs/` beside the package; FEDKD_CONFIG_DIR overrides it)."""
    return Path(os.environ.get("FEDKD_CONFIG_DIR", PROJECT_ROOT / "configs")).resolve()


def expand(path: str | os.PathLike[str]) -> Path:
    """Expand `~` and environment variables and make the path absolute."""
    return Path(os.path.expandvars(os.path.expanduser(str(path)))).resolve()
