"""Route-constrained optimisation, RCO (Jin, Peng, Wu, Liu, Liu, Yan, Hu, "Knowledge Distillation via Route
Constrained Optimization", ICCV 2019, arXiv 1904.09149).

Instead of the converged teacher only, the student is supervised by anchor checkpoints taken along the
teacher's training route, easiest (earliest) first: the student's epochs are split evenly into one
phase per anchor (`teacher.route_anchors` checkpoints), and phase k distils from anchor k.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedkd.distill.outputs import Outputs
from fedkd.faces.schedules.context import DistillationContext
from fedkd.faces.schedules.method_settings import FaceMethodSettings
from fedkd.faces.training_loop import History, precompute_outputs, train_embedder


@dataclass
class RouteMethod(FaceMethodSettings):
    """`schedule: route`: the anchors are the teacher's `route_anchors` checkpoints."""

    schedule: str = "route"


def route_constrained_distillation(ctx: DistillationContext) -> History:
    anchors: list[Outputs] = []
    for state in ctx.route:
        net = ctx.teacher_settings.build(ctx.train_hr.shape[1], ctx.teacher.head.weight.shape[0])
        net.load_state_dict(state)
        anchors.append(precompute_outputs(net, ctx.train_hr))
    ctx.distiller.prepare(anchors[-1].embedding, ctx.train_y)
    epochs = ctx.student_train.epochs

    def anchor_for(epoch: int) -> Outputs:
        return anchors[min(len(anchors) - 1, epoch * len(anchors) // epochs)]

    return train_embedder(ctx.student, ctx.train_lr, ctx.train_y, ctx.student_train, ctx.seed, ctx.distiller,
                          anchor_for, desc="student (route)")
