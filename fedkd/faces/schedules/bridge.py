"""Bridge distillation (Ge, Zhao, Li, Zhang, Li, "Efficient Low-Resolution Face Recognition via Bridge
Distillation", IEEE TIP 29, 2020).

Step 1 (cross-data distillation): a compact HR bridge network (ResNet widths `bridge_widths`) learns on
the public HR faces from the teacher (feature regression, weight `lambda_feature`, plus its own margin
classification). Step 2 (resolution-adapted distillation): the LR student learns on synthetic LR
versions of the public faces from the bridge's HR embeddings with the configured distiller. The public
set is a `public_fraction` share of the training faces, drawn by the seed.
"""

from __future__ import annotations

import torch

from fedkd.distill.logit_feature_kd import LogitFeatureKD
from fedkd.faces.networks import build_teacher
from fedkd.faces.schedules.context import DistillationContext
from fedkd.faces.training_loop import History, precompute_outputs, train_embedder


def bridge_distillation(ctx: DistillationContext) -> History:
    gen = torch.Generator().manual_seed(ctx.seed)
    public = torch.randperm(len(ctx.train_y), generator=gen)[:max(2, round(ctx.method["public_fraction"]
                                                                         * len(ctx.train_y)))]
    hr, lr, y = ctx.train_hr[public], ctx.train_lr[public], ctx.train_y[public]
    teacher_outputs = precompute_outputs(ctx.teacher, hr)
    bridge_cfg = ctx.teacher_cfg | {"widths": ctx.method["bridge_widths"]}
    torch.manual_seed(ctx.seed)
    bridge = build_teacher(bridge_cfg, hr.shape[1], ctx.teacher.head.weight.shape[0])
    step1 = train_embedder(bridge, hr, y, ctx.teacher_cfg["train"] | {"epochs": ctx.method["bridge_epochs"]},
                           ctx.seed, LogitFeatureKD(lambda_logits=0.0, lambda_feature=ctx.method["lambda_feature"]),
                           lambda e: teacher_outputs,
                           desc="bridge (step 1)")
    bridge_outputs = precompute_outputs(bridge, hr)
    ctx.distiller.prepare(bridge_outputs.embedding, y)
    step2 = train_embedder(ctx.student, lr, y, ctx.student_train, ctx.seed, ctx.distiller,
                           lambda e: bridge_outputs, desc="student (step 2)")
    return [{"step": 1} | row for row in step1] + [{"step": 2} | row for row in step2]
