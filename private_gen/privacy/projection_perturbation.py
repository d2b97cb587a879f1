"""The projection-perturbation mechanism of Liu, Wang, Guo et al. (arXiv 2305.10662), as built here.

The paper obtains privacy "by perturbing the projection vectors in the estimation of gradients with sliced
score matching"; its exact mechanism and proof were not available. Here each sample's σ-weighted projection
statistics (σ·vᵀs and σ²·vᵀJv, and σ²·½‖s‖²) are clipped to [-clip, clip] and Gaussian noise of standard
deviation noise_multiplier·clip is added to each before the loss is formed.

NOT A FORMAL DP GUARANTEE: the noise hides the value of each statistic, but the parameter gradient also
flows through the statistics' derivatives ∂(vᵀs)/∂θ, which depend on the private sample and are neither
clipped nor noised, so no (ε, δ) bound holds for the released network. docs/private_gen.md writes out the
sensitivity of the statistics and why it does not transfer to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedkd.config.fields import above, at_least, one_of, setting
from private_gen.privacy.settings import GenPrivacySettings
from private_gen.sliced_score import ProjectionStats

GUARANTEE = "not a formal DP guarantee"


@dataclass
class ProjectionPerturbationSettings(GenPrivacySettings):
    """`gen_privacy=projection_perturbation`: clip and noise the projection statistics of the sliced-score
    estimate. NOT A FORMAL DP GUARANTEE (docs/private_gen.md)."""

    name: str = "projpert"
    mechanism: str = "projection_perturbation"
    guarantee: str = setting(GUARANTEE, one_of((GUARANTEE,)), help="what the mechanism guarantees (nothing formal)")
    clip: float = setting(10.0, above(0), help="bound on each σ-weighted projection statistic")
    noise_multiplier: float = setting(1.0, at_least(0), help="noise std = noise_multiplier × clip")


class ProjectionPerturbation:
    """Clip-and-noise hook on the projection statistics; pass it as `perturb` to the SSM loss."""

    def __init__(self, clip: float, noise_multiplier: float) -> None:
        self.clip, self.noise_multiplier = clip, noise_multiplier

    def _perturb(self, value: torch.Tensor) -> torch.Tensor:
        clipped = value.clamp(-self.clip, self.clip)
        return clipped + self.noise_multiplier * self.clip * torch.randn_like(clipped)

    def __call__(self, stats: ProjectionStats) -> ProjectionStats:
        return ProjectionStats(self._perturb(stats.half_sq_norm), self._perturb(stats.projected),
                               self._perturb(stats.curvature))
