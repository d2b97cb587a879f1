"""What annealed samplers share: the score interface, the per-level step sizes, the result record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

# score(x, level) for a batch x at the noise-level index `level` (an int).
LevelScore = Callable[[torch.Tensor, int], torch.Tensor]
# log-density (up to a constant) at a level, for a Metropolis correction; None where no energy exists.
LevelLogDensity = Callable[[torch.Tensor, int], torch.Tensor]


def step_sizes(sigmas: torch.Tensor, base: float) -> torch.Tensor:
    """Langevin-style step α_i = base · σ_i² / σ_L² (Song & Ermon, NeurIPS 2019): each level moves by
    a similar signal-to-noise ratio. HMC uses leapfrog step √α_i, which makes one leapfrog step with a
    full momentum refresh the same move as one Langevin step of size α_i."""
    return base * (sigmas / sigmas[-1]) ** 2


@dataclass
class SamplerResult:
    samples: torch.Tensor
    score_evaluations: int | None  # per sample; None for a generator without a sampler
    acceptance: list[float] = field(default_factory=list)  # per level; empty without a Metropolis step
