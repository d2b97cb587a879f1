"""Declaring a setting: a dataclass field with its default, the rules its value must meet and a help line.

A component's settings class is a plain dataclass whose fields are made with `setting(...)`; the same class
is its Hydra structured config (registered in Hydra's ConfigStore) and the object its code receives. The
type annotation says what kind of value a field takes (checked by OmegaConf when the config is composed);
the rules say which values of that kind are allowed (checked by `fedkd.config.check`). `allowed()` turns
both into the text of the one-line error a user sees.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

RULES = "fedkd.rules"
HELP = "fedkd.help"
ALLOWED = "fedkd.allowed"


class Invalid(Exception):
    """Raised by a settings class's `check()` (conditions between its own fields): field, value, what is allowed.

    The config checker adds the section's path to the field name."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        super().__init__(field, value, allowed)
        self.field, self.value, self.allowed = field, value, allowed


@dataclass(frozen=True)
class Rule:
    """A condition on a value of the field's type, with the words that describe it (e.g. '>= 1')."""

    test: Callable[[Any], bool]
    text: str
    replaces_type: bool = False  # the text names the allowed values on its own (e.g. 'one of: a, b')


def at_least(lo: float) -> Rule:
    return Rule(lambda v: v >= lo, f">= {lo}")


def above(lo: float) -> Rule:
    return Rule(lambda v: v > lo, f"> {lo}")


def at_most(hi: float) -> Rule:
    return Rule(lambda v: v <= hi, f"<= {hi}")


def below(hi: float) -> Rule:
    return Rule(lambda v: v < hi, f"< {hi}")


def one_of(options: Iterable[str]) -> Rule:
    options = tuple(options)
    return Rule(lambda v: v in options, "one of: " + ", ".join(options), replaces_type=True)


NOT_EMPTY = Rule(lambda v: len(v) > 0 if not isinstance(v, str) else bool(v.strip()), "non-empty")


def each(rule: Rule) -> Rule:
    """`rule` for every element of a list."""
    return Rule(lambda v: all(rule.test(x) for x in v), f"each {rule.text}")


def setting(default: Any, *rules: Rule, help: str = "", allowed: str = "") -> Any:
    """A dataclass field: its default (lists and dicts are copied per instance), rules and help line.

    `allowed` replaces the generated description of the allowed values where a domain word says more
    (e.g. "a non-empty list of parameter-name prefixes, e.g. [head]")."""
    metadata = {RULES: rules, HELP: help, ALLOWED: allowed}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def rules_of(field: dataclasses.Field) -> tuple[Rule, ...]:
    return tuple(field.metadata.get(RULES, ()))


def help_of(field: dataclasses.Field) -> str:
    return str(field.metadata.get(HELP, ""))


_NOUNS = {int: ("an integer", "integers"), float: ("a number", "numbers"), bool: ("true or false", "booleans"),
          str: ("a string", "strings")}


def _optional_inner(kind: Any) -> tuple[Any, bool]:
    """(X, True) for `X | None`, (kind, False) otherwise."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return args[0], True
    return kind, False


def describe_type(kind: Any, rules: tuple[Rule, ...] = ()) -> str:
    """'an integer >= 1', 'a number > 0 and < 1', 'one of: a, b', 'a non-empty list of integers > 0', ..."""
    inner, optional = _optional_inner(kind)
    text = _describe(inner, rules)
    return f"{text} or null" if optional else text


def _describe(kind: Any, rules: tuple[Rule, ...]) -> str:
    if any(r.replaces_type for r in rules):
        return " ".join(r.text for r in rules if r.replaces_type)
    conditions = [r.text for r in rules if r is not NOT_EMPTY]
    empty = "non-empty " if NOT_EMPTY in rules else ""
    if typing.get_origin(kind) is list:
        (element,) = typing.get_args(kind) or (Any,)
        noun = _NOUNS.get(element, ("", "values"))[1]
        items = [c.removeprefix("each ") for c in conditions if c.startswith("each ")]
        text = f"a {empty}list of {noun}"
        return text + (" " + " and ".join(items) if items else "")
    noun = _NOUNS.get(kind, ("a value", "values"))[0]
    if empty and noun.startswith("a "):
        noun = f"a {empty}{noun[2:]}"
    return noun + (" " + " and ".join(conditions) if conditions else "")


def allowed(owner: type, name: str) -> str:
    """What field `name` of the settings class `owner` accepts, in words."""
    field = {f.name: f for f in dataclasses.fields(owner)}[name]
    if field.metadata.get(ALLOWED):
        return str(field.metadata[ALLOWED])
    return describe_type(typing.get_type_hints(owner)[name], rules_of(field))
