"""What every face-distillation method's settings have (`face_method=<preset>`): its name, the schedule
that trains the student, adaptive BatchNorm at test time, and the distiller (a `_target_` section whose
constructor annotations are its settings). Each schedule declares its own subclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from fedkd.config.fields import setting


@dataclass
class FaceMethodSettings:
    name: str = MISSING
    schedule: str = MISSING
    adabn: bool = setting(False, help="re-estimate BatchNorm statistics on the test faces (AdaBN)")
    distiller: dict[str, Any] = setting({"_target_": "fedkd.distill.face_distiller.NoDistillation"},
                                        help="_target_: a FaceDistiller class, plus its arguments")
