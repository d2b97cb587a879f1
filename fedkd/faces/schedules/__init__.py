"""Distillation schedules: how the student meets its teacher(s) during training.

`standard` (fixed pre-trained teacher), `bridge` (two steps through an HR bridge network),
`evolutionary` (teacher trained online with guide modules) and `route` (route-constrained: the teacher's
training checkpoints in order). Each declares its settings class (the schema of the `face_method` presets
that name it) and takes a `DistillationContext`, returning the training history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fedkd.config.registry import Registry
from fedkd.faces.schedules.bridge import BridgeMethod, bridge_distillation
from fedkd.faces.schedules.context import DistillationContext
from fedkd.faces.schedules.evolutionary import EvolutionaryMethod, evolutionary_distillation
from fedkd.faces.schedules.method_settings import FaceMethodSettings
from fedkd.faces.schedules.route import RouteMethod, route_constrained_distillation
from fedkd.faces.schedules.standard import StandardMethod, standard_distillation
from fedkd.faces.training_loop import History


@dataclass(frozen=True)
class Schedule:
    settings: type[FaceMethodSettings]   # the schema of presets with `schedule: <name>`
    train: Callable[[DistillationContext], History]


SCHEDULES: Registry[Schedule] = Registry("face_method", lambda entry: entry.settings, key="face_method.schedule")
SCHEDULES.add("standard", Schedule(StandardMethod, standard_distillation))
SCHEDULES.add("bridge", Schedule(BridgeMethod, bridge_distillation))
SCHEDULES.add("evolutionary", Schedule(EvolutionaryMethod, evolutionary_distillation))
SCHEDULES.add("route", Schedule(RouteMethod, route_constrained_distillation))

__all__ = ["SCHEDULES", "DistillationContext", "FaceMethodSettings"]
