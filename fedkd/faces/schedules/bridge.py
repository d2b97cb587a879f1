"""Bridge distillation (Ge, Zhao, Li, Zhang, Li, "Efficient Low-Resolution Face Recognition via Bridge
Distillation", IEEE TIP 29, 2020).

Step 1 (cross-data distillation): a compact HR bridge network (ResNet widths `bridge_widths`) learns on
the public HR faces from the teacher (feature regression, weight `lambda_feature`, plus its own margin
classification). Step 2 (resolution-adapted distillation): the LR student learns on synthetic LR
versions of the public faces from the bridge's HR embeddings with the configured distiller. The public
set is a `public_fraction` share of the training faces, drawn by the seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from fedkd.config.fields import NOT_EMPTY, above, at_least, at_most, each, setting
from fedkd.distill.logit_feature_kd import LogitFeatureKD
from fedkd.faces.schedules.context import DistillationContext
from fedkd.faces.schedules.method_settings import FaceMethodSettings
from fedkd.faces.training_loop import History, precompute_outputs, train_embedder


@dataclass
class BridgeMethod(FaceMethodSettings):
    """`schedule: bridge`."""

    schedule: str = "bridge"
    public_fraction: float = setting(1.0, above(0), at_most(1), help="share of the training faces used as the "
                                     "public HR set")
    bridge_widths: list[int] = setting([8, 16, 32, 64], NOT_EMPTY, each(above(0)))
    bridge_epochs: int = setting(10, at_least(1))
    lambda_feature: float = setting(5.0, at_least(0), help="step 1: bridge regression on the teacher")


def bridge_distillation(ctx: DistillationContext) -> History:
    method = ctx.method
    assert isinstance(method, BridgeMethod)
    gen = torch.Generator().manual_seed(ctx.seed)
    public = torch.randperm(len(ctx.train_y), generator=gen)[:max(2, round(method.public_fraction
                                                                         * len(ctx.train_y)))]
    hr, lr, y = ctx.train_hr[public], ctx.train_lr[public], ctx.train_y[public]
    teacher_outputs = precompute_outputs(ctx.teacher, hr)
    bridge_settings = dataclasses.replace(ctx.teacher_settings, widths=list(method.bridge_widths))
    torch.manual_seed(ctx.seed)
    bridge = bridge_settings.build(hr.shape[1], ctx.teacher.head.weight.shape[0])
    step1 = train_embedder(bridge, hr, y, dataclasses.replace(ctx.teacher_settings.train, epochs=method.bridge_epochs),
                           ctx.seed, LogitFeatureKD(lambda_logits=0.0, lambda_feature=method.lambda_feature),
                           lambda e: teacher_outputs,
                           desc="bridge (step 1)")
    bridge_outputs = precompute_outputs(bridge, hr)
    ctx.distiller.prepare(bridge_outputs.embedding, y)
    step2 = train_embedder(ctx.student, lr, y, ctx.student_train, ctx.seed, ctx.distiller,
                           lambda e: bridge_outputs, desc="student (step 2)")
    return [{"step": 1} | row for row in step1] + [{"step": 2} | row for row in step2]
