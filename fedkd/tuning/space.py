"""What a tuning run searches: the learning rate (declared by `TrainSettings`), the method's own
hyper-parameters (declared by its settings class), and any extra choices given on the command line."""

from __future__ import annotations

from typing import Any

import optuna

from fedkd.app.experiment_config import FederatedConfig
from fedkd.config.search_space import Choice, Interval, Space
from fedkd.errors import UserError


def search_space(config: FederatedConfig, extra: dict[str, Space] | None = None) -> dict[str, Space]:
    """Dotted Hydra keys -> their space, for the method `config` selects."""
    space: dict[str, Space] = {f"train.{k}": v for k, v in config.train.search_space().items()}
    space |= {f"strategy.{k}": v for k, v in config.strategy.search_space().items()}
    return space | (extra or {})


def parse_choices(items: list[str]) -> dict[str, Space]:
    """`KEY=V1,V2,...` arguments as categorical spaces (values parsed as YAML scalars: numbers, booleans, text)."""
    import yaml

    spaces: dict[str, Space] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise UserError(f"--choice {item!r} is not KEY=V1,V2,...; e.g. --choice strategy.teacher_norm=eval,train")
        spaces[key] = Choice(tuple(yaml.safe_load(v) for v in values.split(",")))
    return spaces


def suggest(trial: optuna.Trial, key: str, space: Space) -> Any:
    if isinstance(space, Choice):
        return trial.suggest_categorical(key, list(space.values))
    if space.integer:
        return trial.suggest_int(key, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(key, space.low, space.high, log=space.log)


def as_override(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if isinstance(value, float):
        return f"{key}={value:.6g}"
    return f"{key}={value}"


def grid_of(space: dict[str, Space]) -> dict[str, list[Any]]:
    """The grid of a space made of choices only (for `--sampler grid`)."""
    intervals = [k for k, v in space.items() if isinstance(v, Interval)]
    if intervals:
        raise UserError(f"--sampler grid needs choices only, but {', '.join(intervals)} are intervals; fix them "
                        "with overrides (e.g. train.lr=0.001) and pass --no-method-space, or use --sampler tpe")
    return {k: list(v.values) for k, v in space.items()}  # type: ignore[union-attr]
