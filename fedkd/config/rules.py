"""Typed config rules: each names what a value must be, for one-line error messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fedkd.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    kind: type | tuple[type, ...]
    check: Callable[[Any], bool] = lambda v: True
    allowed: str = ""


def integer(lo: int | None = None, hi: int | None = None) -> Rule:
    text = "an integer" + (f" >= {lo}" if lo is not None else "") + (f" <= {hi}" if hi is not None else "")
    return Rule(int, lambda v: (lo is None or v >= lo) and (hi is None or v <= hi), text)


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> Rule:
    def ok(v: float) -> bool:
        above = lo is None or (v > lo if lo_open else v >= lo)
        below = hi is None or (v < hi if hi_open else v <= hi)
        return above and below

    text = "a number" + (f" {'>' if lo_open else '>='} {lo}" if lo is not None else "")
    text += f" {'<' if hi_open else '<='} {hi}" if hi is not None else ""
    return Rule((int, float), ok, text)


def choice(options: Iterable[str]) -> Rule:
    options = tuple(options)
    return Rule(str, lambda v: v in options, "one of: " + ", ".join(options))


def optional(rule: Rule) -> Rule:
    """`rule`, or null."""
    kinds = rule.kind if isinstance(rule.kind, tuple) else (rule.kind,)
    return Rule((*kinds, type(None)), lambda v: v is None or rule.check(v), f"{rule.allowed} or null")


BOOL = Rule(bool, allowed="true or false")
PREFIXES = Rule(list, lambda v: bool(v) and all(isinstance(p, str) and p for p in v),
                "a non-empty list of parameter-name prefixes, e.g. [head]")
TEXT = Rule(str, lambda v: bool(v.strip()), "a non-empty string")


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(leaves(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def check(key: str, value: Any, rule: Rule) -> None:
    kinds = rule.kind if isinstance(rule.kind, tuple) else (rule.kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(key, value, rule.allowed)
    if not isinstance(value, kinds) or not rule.check(value):
        raise ConfigError(key, value, rule.allowed)
