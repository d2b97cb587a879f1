"""Distillation schedules: how the student meets its teacher(s) during training.

`standard` (fixed pre-trained teacher), `bridge` (two steps through an HR bridge network),
`evolutionary` (teacher trained online with guide modules) and `route` (route-constrained: the teacher's
training checkpoints in order). Each takes a `DistillationContext` and returns the training history.
"""

from __future__ import annotations

from collections.abc import Callable

from fedkd.faces.schedules.bridge import bridge_distillation
from fedkd.faces.schedules.context import DistillationContext
from fedkd.faces.schedules.evolutionary import evolutionary_distillation
from fedkd.faces.schedules.route import route_constrained_distillation
from fedkd.faces.schedules.standard import standard_distillation
from fedkd.faces.training_loop import History

SCHEDULES: dict[str, Callable[[DistillationContext], History]] = {
    "standard": standard_distillation,
    "bridge": bridge_distillation,
    "evolutionary": evolutionary_distillation,
    "route": route_constrained_distillation,
}

__all__ = ["SCHEDULES", "DistillationContext"]
