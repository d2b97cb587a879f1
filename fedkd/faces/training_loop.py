"""Mini-batch training of a face embedder: angular-margin classification plus optional distillation terms.

The teacher's outputs for every training image are computed once per teacher (teachers are frozen),
so a distillation epoch costs one student forward/backward per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from fedkd.checkpoint.training_checkpoint import stage_checkpoint
from fedkd.config.fields import above, at_least, at_most, one_of, setting
from fedkd.distill.face_distiller import FaceDistiller, NoDistillation
from fedkd.distill.outputs import Outputs, forward_outputs
from fedkd.models.margin_head import MARGIN_KINDS, margin_cross_entropy

History = list[dict[str, float]]


@dataclass
class EmbedderTrainSettings:
    """How a face embedder (teacher, bridge, student) is trained: Adam with cosine decay on a margin loss."""

    epochs: int = setting(20, at_least(1))
    batch_size: int = setting(64, at_least(2))
    lr: float = setting(0.002, above(0))
    weight_decay: float = setting(0.0005, at_least(0))
    loss: str = setting("arcface", one_of(MARGIN_KINDS), help="angular-margin loss of the cosine head")
    margin: float = setting(0.2, at_least(0), at_most(1))
    progress: bool = setting(True, help="show a progress bar")


@torch.no_grad()
def precompute_outputs(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> Outputs:
    model.eval()
    parts = [forward_outputs(model, x[s:s + batch_size]) for s in range(0, len(x), batch_size)]
    return Outputs(torch.cat([p.embedding for p in parts]), torch.cat([p.logits for p in parts]))


def step_on_terms(opt: torch.optim.Optimizer, terms: dict[str, torch.Tensor], sums: dict[str, float],
                  batch_size: int) -> None:
    """One optimiser step on the sum of the terms; adds each term (and the total as `loss`) × batch size to `sums`."""
    loss = torch.stack(list(terms.values())).sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    for name, value in (("loss", loss), *terms.items()):
        sums[name] = sums.get(name, 0.0) + value.item() * batch_size


def _slice(outputs: Outputs | None, rows: torch.Tensor) -> Outputs | None:
    return None if outputs is None else Outputs(outputs.embedding[rows], outputs.logits[rows])


def train_embedder(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: EmbedderTrainSettings, seed: int,
    distiller: FaceDistiller | None = None, teacher_for_epoch: Callable[[int], Outputs] | None = None,
    assistant: Outputs | None = None, desc: str = "train",
    on_epoch_end: Callable[[int], None] | None = None, checkpoint_parts: Mapping[str, Any] | None = None,
) -> History:
    """Train `model` for `settings.epochs`; returns one row of mean loss terms per epoch.

    `teacher_for_epoch(e)` gives the (precomputed) teacher outputs for epoch e, so a schedule can
    change teachers between epochs (route-constrained distillation). `desc` names the stage's epoch
    checkpoints (fedkd/checkpoint/training_checkpoint.py); what `on_epoch_end` keeps must be in
    `checkpoint_parts` (objects with state_dict/load_state_dict), since a resumed stage skips those epochs.
    """
    distiller = distiller or NoDistillation()
    if not isinstance(distiller, NoDistillation) and teacher_for_epoch is None:
        raise ValueError("a distiller needs teacher outputs")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    epochs = settings.epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    history: History = []
    checkpoint = stage_checkpoint(desc)
    parts = {"model": model, "optimizer": opt, "schedule": sched, "batches": gen, **(checkpoint_parts or {})}
    saved = checkpoint.resume(parts) if checkpoint else None
    if saved is not None:
        history = saved.history
    for epoch in tqdm(range(len(history), epochs), desc=desc, leave=False, disable=not settings.progress,
                      initial=len(history), total=epochs):
        teacher = teacher_for_epoch(epoch) if teacher_for_epoch else None
        model.train()
        sums: dict[str, float] = {}
        order = torch.randperm(len(y), generator=gen)
        batch_size = settings.batch_size
        for start in range(0, len(order) - 1, batch_size):
            rows = order[start:start + batch_size]
            if len(rows) < 2:
                continue
            student = forward_outputs(model, x[rows])
            terms = {"ce": margin_cross_entropy(model.head, student.embedding, y[rows], settings.loss,
                                                settings.margin)}
            if teacher is not None:
                terms |= distiller(student, _slice(teacher, rows), y[rows], _slice(assistant, rows))
            step_on_terms(opt, terms, sums, len(rows))
        sched.step()
        history.append({"epoch": epoch + 1} | {k: v / len(y) for k, v in sums.items()})
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
        if checkpoint:
            checkpoint.end_of_epoch(epoch + 1, epochs, parts, history)
    model.eval()
    return history
