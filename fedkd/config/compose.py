"""Compose a config from `configs/` plus overrides, turning every Hydra/OmegaConf failure into one line."""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from omegaconf import DictConfig

from fedkd.config.check import unknown_key
from fedkd.config.fields import allowed
from fedkd.errors import ConfigError, UserError
from fedkd.paths import config_dir


def one_line(message: str) -> str:
    """Collapse a multi-line library message into one line."""
    message = message.split("Config search path:")[0].split("Set the environment variable")[0]
    message = message.split("full_key:")[0]
    return re.sub(r"\s+", " ", message).strip()


def _offending_value(message: str, cause_message: str, key: str) -> Any:
    """The value a type error was about: from the override text, else from OmegaConf's message."""
    found = re.search(rf"override {re.escape(key)}=(.*)$", message.strip().splitlines()[0])
    text = found.group(1) if found else None
    if text is None:
        quoted = re.search(r"Value '(.*?)'", cause_message)
        text = quoted.group(1) if quoted else None
    if text is None:
        return "?"
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def user_error(err: Exception) -> UserError:
    """One line for a composition failure, naming the key, the value and what is allowed where known."""
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    cause = err.__cause__ if err.__cause__ is not None else err
    owner = getattr(cause, "object_type", None)
    key = getattr(cause, "key", None)
    full_key = getattr(cause, "full_key", None) or key
    declared = owner is not None and dataclasses.is_dataclass(owner) and \
        key in {f.name for f in dataclasses.fields(owner)}
    if isinstance(cause, ValidationError) and declared:
        value = _offending_value(str(err), getattr(cause, "msg", ""), str(full_key))
        return ConfigError(str(full_key), value, allowed(owner, str(key)))
    if isinstance(cause, ConfigAttributeError | ConfigKeyError) and full_key and not declared:
        return unknown_key(str(full_key), owner)
    message = str(err) or str(err.__cause__ or "") or type(err).__name__
    missing = re.search(r"Could not find '(.+)/([^/']+)'", message)
    options = re.search(r"Available options in '[^']+':\s*(.*?)\s*(Config search path|$)", message, re.DOTALL)
    if missing and options:
        group, choice = missing.group(1).split("@")[0], missing.group(2)
        return ConfigError(group, choice, "one of: " + ", ".join(options.group(1).split()))
    return UserError(one_line(message))


def compose_config(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose `configs/<config_name>.yaml` with Hydra overrides; raise UserError on any composition error.

    The settings classes must be registered in Hydra's ConfigStore first (`ExperimentSchema.register`)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise user_error(err) from None


def overrides_from_run_config(run_config: Mapping[str, Any]) -> list[str]:
    """The Hydra overrides carried in a Flower run config (`overrides = "k=v k2=v2"`)."""
    return shlex.split(str(run_config.get("overrides", "")))
