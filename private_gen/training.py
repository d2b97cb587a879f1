"""Training loop of the score network: non-private, or with the projection-perturbation hook.

DP-SGD has its own loop (private_gen/privacy/dp_sgd.py). Both keep an exponential moving average of the
weights (Song & Ermon, NeurIPS 2020), which is what is sampled from; for DP-SGD it is post-processing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from private_gen.score_net import ScoreNet
from private_gen.sliced_score import StatsHook, annealed_ssm_loss, draw_batch


@dataclass(frozen=True)
class SSMSettings:
    """The `generator.ssm` and `generator.train` config of a score model."""

    epochs: int
    batch_size: int
    lr: float
    ema_decay: float
    num_projections: int
    projection: str
    variance_reduced: bool
    noise_multiplicity: int = 1
    per_sample_chunk: int | None = None
    progress: bool = False

    @classmethod
    def from_config(cls, generator: dict[str, Any]) -> SSMSettings:
        return cls(**generator["train"], **generator["ssm"])


def ema_of(model: ScoreNet, decay: float) -> AveragedModel:
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def train_ssm(model: ScoreNet, x: torch.Tensor, y: torch.Tensor, settings: SSMSettings, seed: int,
              perturb: StatsHook | None = None) -> tuple[ScoreNet, list[dict[str, float]]]:
    """Minibatch Adam on the annealed SSM loss; returns the EMA network and one history row per epoch."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    ema = ema_of(model, settings.ema_decay)
    history, started = [], time.perf_counter()
    for epoch in tqdm(range(settings.epochs), desc="score matching", disable=not settings.progress):
        total, count = 0.0, 0
        for idx in torch.randperm(len(x), generator=gen).split(settings.batch_size):
            batch = draw_batch(x[idx], y[idx], len(model.sigmas), settings.num_projections, settings.projection, gen,
                               settings.noise_multiplicity)
            loss = annealed_ssm_loss(model, model.sigmas, batch, settings.variance_reduced, perturb).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            ema.update_parameters(model)
            total, count = total + loss.item() * len(idx), count + len(idx)
        history.append({"epoch": epoch + 1, "loss": total / count, "seconds": time.perf_counter() - started})
    return ema.module, history
