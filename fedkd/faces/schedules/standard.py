"""Distillation from the fixed pre-trained teacher, optionally with an assistant stream.

The assistant of hybrid-order relational distillation (Ge et al., AAAI 2020) is a copy of the teacher
fine-tuned on the LR faces (resized back to the HR side) for `assistant_epochs`; the distiller then
receives its outputs on those faces next to the teacher's outputs on the HR faces.
"""

from __future__ import annotations

import copy

from fedkd.faces.schedules.context import DistillationContext
from fedkd.faces.training_loop import History, precompute_outputs, train_embedder


def standard_distillation(ctx: DistillationContext) -> History:
    teacher_outputs = precompute_outputs(ctx.teacher, ctx.train_hr)
    ctx.distiller.prepare(teacher_outputs.embedding, ctx.train_y)
    assistant_outputs = None
    if ctx.method.get("assistant_epochs", 0) > 0:
        assistant = copy.deepcopy(ctx.teacher)
        upsampled = ctx.lr_upsampled()
        train_embedder(assistant, upsampled, ctx.train_y, ctx.teacher_cfg["train"] | {
            "epochs": ctx.method["assistant_epochs"], "lr": ctx.method["assistant_lr"]}, ctx.seed + 1,
            desc="assistant")
        assistant_outputs = precompute_outputs(assistant, upsampled)
    return train_embedder(ctx.student, ctx.train_lr, ctx.train_y, ctx.student_train, ctx.seed, ctx.distiller,
                          lambda epoch: teacher_outputs, assistant_outputs, desc="student")
