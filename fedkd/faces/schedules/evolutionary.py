"""Evolutionary knowledge distillation (Zhang, Zhang, Li, Zeng, Ge, "Student Network Learning via
Evolutionary Knowledge Distillation", IEEE TCSVT 2021).

The teacher is not pre-trained: a fresh teacher learns online on the HR faces while the student learns
on the LR faces, and the student follows the teacher's intermediate knowledge as it grows. Guide
modules (1×1 conv + BN) map each of the student's last stages onto the paired teacher stage; the guide
loss is the MSE to the teacher's (detached) map after pooling both to the smaller side. The student also
distils the teacher's logits (T²·KL) with weight `lambda_logits`. One optimiser trains all three parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from fedkd.checkpoint.training_checkpoint import stage_checkpoint
from fedkd.config.fields import above, at_least, setting
from fedkd.distill.logit_kd import LogitKD
from fedkd.distill.outputs import Outputs
from fedkd.faces.schedules.context import DistillationContext
from fedkd.faces.schedules.method_settings import FaceMethodSettings
from fedkd.faces.training_loop import History, step_on_terms
from fedkd.models.margin_head import margin_cross_entropy


@dataclass
class EvolutionaryMethod(FaceMethodSettings):
    """`schedule: evolutionary`: the distiller is unused; the online teacher is distilled by guides and logits."""

    schedule: str = "evolutionary"
    guided_stages: int = setting(2, at_least(1), help="the student's last stages paired with the teacher's last stages")
    lambda_guide: float = setting(1.0, at_least(0))
    lambda_logits: float = setting(1.0, at_least(0))
    temperature: float = setting(4.0, above(0))


def _guide(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))


def _match(student_map: torch.Tensor, teacher_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    side = min(student_map.shape[-1], teacher_map.shape[-1])
    return F.adaptive_avg_pool2d(student_map, side), F.adaptive_avg_pool2d(teacher_map, side)


def evolutionary_distillation(ctx: DistillationContext) -> History:
    method = ctx.method
    assert isinstance(method, EvolutionaryMethod)
    torch.manual_seed(ctx.seed)
    teacher = ctx.teacher_settings.build(ctx.train_hr.shape[1], ctx.teacher.head.weight.shape[0])
    student, cfg = ctx.student, ctx.student_train
    pairs = min(method.guided_stages, len(student.stage_channels), len(teacher.stage_channels))
    guides = nn.ModuleList(_guide(student.stage_channels[-pairs + i], teacher.stage_channels[-pairs + i])
                           for i in range(pairs))
    parts = nn.ModuleList([teacher, student, guides])
    opt = torch.optim.Adam(parts.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    logit_kd = LogitKD(method.temperature)
    gen = torch.Generator().manual_seed(ctx.seed)
    history: History = []
    checkpoint = stage_checkpoint("evolutionary")
    state = {"networks": parts, "optimizer": opt, "schedule": sched, "batches": gen}
    saved = checkpoint.resume(state) if checkpoint else None
    if saved is not None:
        history = saved.history
    for epoch in tqdm(range(len(history), cfg.epochs), desc="evolutionary", leave=False, disable=not cfg.progress,
                      initial=len(history), total=cfg.epochs):
        parts.train()
        sums: dict[str, float] = {}
        order = torch.randperm(len(ctx.train_y), generator=gen)
        for start in range(0, len(order) - 1, cfg.batch_size):
            rows = order[start:start + cfg.batch_size]
            if len(rows) < 2:
                continue
            y = ctx.train_y[rows]
            t_maps = teacher.stage_features(ctx.train_hr[rows])
            t_emb = teacher.embed_maps(t_maps[-1])
            s_maps = student.stage_features(ctx.train_lr[rows])
            s_emb = student.tail(s_maps[-1])
            guide = sum(F.mse_loss(*_match(g(s), t.detach())) for g, s, t in
                        zip(guides, s_maps[-pairs:], t_maps[-pairs:], strict=True))
            kd = logit_kd(Outputs(s_emb, student.head(s_emb)), Outputs(t_emb.detach(), teacher.head(t_emb).detach()))
            terms = {
                "ce_teacher": margin_cross_entropy(teacher.head, t_emb, y, cfg.loss, cfg.margin),
                "ce": margin_cross_entropy(student.head, s_emb, y, cfg.loss, cfg.margin),
                "kd_guide": method.lambda_guide * guide,
                "kd_logits": method.lambda_logits * kd,
            }
            step_on_terms(opt, terms, sums, len(rows))
        sched.step()
        history.append({"epoch": epoch + 1} | {k: v / len(ctx.train_y) for k, v in sums.items()})
        if checkpoint:
            checkpoint.end_of_epoch(epoch + 1, cfg.epochs, state, history)
    student.eval()
    return history
