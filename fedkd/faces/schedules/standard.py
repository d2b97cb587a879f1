"""Distillation from the fixed pre-trained teacher, optionally with an assistant stream.

The assistant of hybrid-order relational distillation (Ge et al., AAAI 2020) is a copy of the teacher
fine-tuned on the LR faces (resized back to the HR side) for `assistant_epochs`; the distiller then
receives its outputs on those faces next to the teacher's outputs on the HR faces.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

from fedkd.config.fields import above, at_least, setting
from fedkd.faces.schedules.context import DistillationContext
from fedkd.faces.schedules.method_settings import FaceMethodSettings
from fedkd.faces.training_loop import History, precompute_outputs, train_embedder


@dataclass
class StandardMethod(FaceMethodSettings):
    """`schedule: standard`: a fixed pre-trained teacher, optionally with an assistant stream."""

    schedule: str = "standard"
    assistant_epochs: int = setting(0, at_least(0), help="> 0: fine-tune a teacher copy on LR faces as the "
                                    "assistant stream")
    assistant_lr: float = setting(0.001, above(0))


def standard_distillation(ctx: DistillationContext) -> History:
    method = ctx.method
    assert isinstance(method, StandardMethod)
    teacher_outputs = precompute_outputs(ctx.teacher, ctx.train_hr)
    ctx.distiller.prepare(teacher_outputs.embedding, ctx.train_y)
    assistant_outputs = None
    if method.assistant_epochs > 0:
        assistant = copy.deepcopy(ctx.teacher)
        upsampled = ctx.lr_upsampled()
        schedule = dataclasses.replace(ctx.teacher_settings.train, epochs=method.assistant_epochs,
                                       lr=method.assistant_lr)
        train_embedder(assistant, upsampled, ctx.train_y, schedule, ctx.seed + 1, desc="assistant")
        assistant_outputs = precompute_outputs(assistant, upsampled)
    return train_embedder(ctx.student, ctx.train_lr, ctx.train_y, ctx.student_train, ctx.seed, ctx.distiller,
                          lambda epoch: teacher_outputs, assistant_outputs, desc="student")
