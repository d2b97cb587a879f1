"""Search spaces of a method's tunable hyper-parameters (declared in its registry entry)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]

    def contains(self, value: Any) -> bool:
        return value in self.values


@dataclass(frozen=True)
class Interval:
    """[low, high]; `log` samples on a log scale (low > 0); `integer` keeps whole numbers."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low <= self.high or (self.log and self.low <= 0):
            raise ValueError(f"invalid interval {self}")

    def contains(self, value: Any) -> bool:
        if self.integer and not float(value).is_integer():
            return False
        return self.low <= value <= self.high

    def grid(self, points: int) -> list[float]:
        """`points` evenly spaced values (geometrically with `log`), ends included."""
        if points < 2:
            return [self.low]
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            values = [math.exp(lo + (hi - lo) * i / (points - 1)) for i in range(points)]
        else:
            values = [self.low + (self.high - self.low) * i / (points - 1) for i in range(points)]
        return sorted({round(v) for v in values}) if self.integer else values


Space = Choice | Interval
