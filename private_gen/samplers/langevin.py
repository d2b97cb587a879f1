"""Annealed Langevin dynamics (Song & Ermon, "Generative Modeling by Estimating Gradients of the Data
Distribution", NeurIPS 2019): x ← x + α_i/2 · s(x, σ_i) + √α_i · z at each level, largest σ first."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedkd.config.fields import above, setting
from private_gen.device import randn_on
from private_gen.samplers.sampler_settings import SamplerSettings
from private_gen.samplers.schedule import LevelScore, SamplerResult, step_sizes


@dataclass
class LangevinSettings(SamplerSettings):
    """`sampler=langevin`: annealed Langevin dynamics, the comparison sampler."""

    name: str = "langevin"
    step_size: float = setting(5.0e-5, above(0), help="α at the smallest σ; α_i = step_size·σ_i²/σ_L²")


@torch.no_grad()
def annealed_langevin(score: LevelScore, x: torch.Tensor, sigmas: torch.Tensor, step_size: float,
                      evals_per_level: int, generator: torch.Generator | None = None,
                      denoise: bool = True) -> SamplerResult:
    """`evals_per_level` Langevin steps (one score evaluation each) per level; optional final denoising
    step x + σ_L² s(x, σ_L) (Tweedie), which counts as one more evaluation."""
    alphas = step_sizes(sigmas, step_size)
    evaluations = 0
    for level, alpha in enumerate(alphas.tolist()):
        for _ in range(evals_per_level):
            noise = randn_on(x.shape, generator, x)
            x = x + 0.5 * alpha * score(x, level) + alpha ** 0.5 * noise
            evaluations += 1
    if denoise:
        x = x + sigmas[-1] ** 2 * score(x, len(sigmas) - 1)
        evaluations += 1
    return SamplerResult(x, evaluations)
