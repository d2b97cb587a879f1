"""Training loop of the score network: non-private, or with the projection-perturbation hook.

DP-SGD has its own loop (private_gen/privacy/dp_sgd.py). Both keep an exponential moving average of the
weights (Song & Ermon, NeurIPS 2020), which is what is sampled from; for DP-SGD it is post-processing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from fedkd.audit.canary_gradients import CanaryGradients
from fedkd.checkpoint.training_checkpoint import stage_checkpoint
from fedkd.config.fields import above, at_least, below, one_of, setting
from private_gen.objectives import ScoreObjective, annealed_loss, draw_batch
from private_gen.sliced_score import StatsHook
from private_gen.trainable import TRAINABLE


@dataclass
class ScoreTrainSettings:
    """`generator.train` of a score model."""

    epochs: int = setting(30, at_least(0), help="0: no private training (with pretrain=..., the pretrained model "
                          "itself; not with gen_privacy=dp)")
    batch_size: int = setting(64, at_least(1), help="DP-SGD: expected batch size of Poisson sampling")
    lr: float = setting(0.001, above(0))
    per_sample_chunk: int = setting(64, at_least(1), help="DP-SGD: samples per vmap chunk of per-sample gradients "
                                    "(memory ~20 MB per 28×28 sample; not results)")
    ema_decay: float = setting(0.99, at_least(0), below(1), help="EMA horizon ~100 steps; sampled from the EMA "
                               "weights")
    trainable: str = setting("all", one_of(TRAINABLE), help="weights the private training updates after "
                             "pretraining (private_gen/trainable.py): all | norms_biases_conditioning | conditioning")
    progress: bool = setting(True)


def ema_of(model: nn.Module, decay: float) -> AveragedModel:
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def train_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, train: ScoreTrainSettings,
                objective: ScoreObjective, seed: int, perturb: StatsHook | None = None, stage: str = "score matching",
                canaries: CanaryGradients | None = None) -> tuple[nn.Module, list[dict[str, float]]]:
    """Minibatch Adam on the annealed objective; returns the EMA network and one history row per epoch.
    `stage` names its epoch checkpoints (fedkd/checkpoint/training_checkpoint.py); `canaries` (an audit's
    included gradient canaries) join each step like records, at rate batch / n."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=train.lr)
    ema = ema_of(model, train.ema_decay)
    named = dict(model.named_parameters())
    history, started = [], time.perf_counter()
    checkpoint, parts = stage_checkpoint(stage), {"model": model, "optimizer": optimizer, "ema": ema, "batches": gen}
    saved = checkpoint.resume(parts) if checkpoint else None
    if saved is not None:
        history = saved.history
        started -= history[-1]["seconds"] if history else 0.0
    for epoch in tqdm(range(len(history), train.epochs), desc=stage, disable=not train.progress,
                      initial=len(history), total=train.epochs):
        total, count = 0.0, 0
        for idx in torch.randperm(len(x), generator=gen).to(x.device).split(train.batch_size):
            batch = draw_batch(x[idx], y[idx], len(model.sigmas), objective, gen)
            loss = annealed_loss(model, model.sigmas, batch, objective.kind, perturb).mean()
            optimizer.zero_grad()
            loss.backward()
            if canaries is not None:
                canaries.add(named, train.batch_size / len(x), len(idx))
            optimizer.step()
            ema.update_parameters(model)
            total, count = total + loss.item() * len(idx), count + len(idx)
        history.append({"epoch": epoch + 1, "loss": total / count, "seconds": time.perf_counter() - started})
        if checkpoint:
            checkpoint.end_of_epoch(epoch + 1, train.epochs, parts, history)
    return ema.module, history
