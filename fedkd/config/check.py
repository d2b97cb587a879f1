"""Check a composed config against its settings classes: unknown keys, missing values and every field's rules.

Types are checked by OmegaConf while Hydra composes the config (the settings classes are its structured
schema); this module adds what OmegaConf does not check (keys added with `+`, value ranges and choices,
the arguments of `_target_` sections) and turns every finding into one line that names the key, the value
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import typing
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from fedkd.config.fields import Invalid, Rule, allowed, describe_type, rules_of
from fedkd.errors import ConfigError, UserError

T = TypeVar("T")


def unknown_key(full_key: str, owner: type | None, option: str | None = None) -> UserError:
    """The error for a key the settings class `owner` does not declare, with the nearest known key."""
    known = [f.name for f in dataclasses.fields(owner)] if owner and dataclasses.is_dataclass(owner) else []
    parent, _, key = full_key.rpartition(".")
    where = f" of {parent}={option}" if option else ""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {parent + '.' if parent else ''}{close[0]}?)" if close else \
        f" (it takes: {', '.join(known)})" if known else ""
    return UserError(f"{full_key} is not a known config key{where}{hint}; remove it or check its spelling")


def _option(node: DictConfig) -> str | None:
    name = node._get_node("name")
    return None if name is None or OmegaConf.is_missing(node, "name") else str(name._value())


def check_known_keys(node: DictConfig, prefix: str = "") -> None:
    """Every key of `node` (and of its typed children) is a field of its settings class."""
    owner = OmegaConf.get_type(node)
    typed = owner is not None and dataclasses.is_dataclass(owner)
    fields = {f.name for f in dataclasses.fields(owner)} if typed else set()
    for key in node:
        full = f"{prefix}{key}"
        if typed and key not in fields:
            raise unknown_key(full, owner, _option(node))
        child = node._get_node(key)
        if isinstance(child, DictConfig) and OmegaConf.get_type(child) not in (dict, None):
            check_known_keys(child, f"{full}.")


def check_rules(settings: Any, prefix: str = "") -> None:
    """Every field of `settings` (a settings dataclass, recursively) meets the rules it declares, then the
    conditions between its own fields that its `check()` method states."""
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            check_rules(value, f"{key}.")
            continue
        if value is None:  # only Optional fields can hold null: OmegaConf checked that
            continue
        if not all(rule.test(value) for rule in rules_of(field)):
            raise ConfigError(key, value, allowed(type(settings), field.name))
    own_check = getattr(settings, "check", None)
    if callable(own_check):
        try:
            own_check()
        except Invalid as err:
            raise ConfigError(f"{prefix}{err.field}", err.value, err.allowed) from None


def typed(cfg: DictConfig, root: type[T]) -> T:
    """The composed `cfg` as an instance of its root settings class, after every declared check."""
    check_known_keys(cfg)
    try:
        settings = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as err:
        key = err.full_key or "config"
        raise UserError(f"{key} must be set; pass it as an override, e.g. {key}=<value>") from None
    except OmegaConfBaseException as err:
        raise UserError(" ".join(str(err).split())) from None
    if not isinstance(settings, root):
        raise UserError(f"the config is not a {root.__name__}; its first default must be its schema")
    check_rules(settings)
    return settings


def _annotation_rules(annotation: Any) -> tuple[Any, tuple[Rule, ...]]:
    """(type, rules) of a parameter annotated `Annotated[type, rule, ...]`."""
    if typing.get_origin(annotation) is typing.Annotated:
        kind, *extra = typing.get_args(annotation)
        return kind, tuple(r for r in extra if isinstance(r, Rule))
    return annotation, ()


def _is_kind(value: Any, kind: Any) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return not isinstance(kind, type) or isinstance(value, kind)


def check_target(key: str, section: dict[str, Any], base: type, example: str) -> type:
    """The class a `_target_` section names, after checking every argument against its signature: the
    constructor's annotations (`Annotated[float, rule]` for ranges) are the section's settings."""
    target = section.get("_target_")
    module, _, name = str(target).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name) if module else None
    except (ImportError, AttributeError, ValueError):
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{key}._target_", target, f"a {base.__name__} class, e.g. {example}")
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for name, value in section.items():
        if name == "_target_":
            continue
        if name not in accepted:
            raise UserError(f"{key}.{name} is not a parameter of {cls.__name__}; "
                            f"allowed: {', '.join(accepted) or 'none'}")
        kind, rules = _annotation_rules(hints.get(name, Any))
        if isinstance(value, DictConfig | ListConfig) or not _is_kind(value, kind) or \
                not all(r.test(value) for r in rules):
            raise ConfigError(f"{key}.{name}", value, describe_type(kind, rules))
    return cls
