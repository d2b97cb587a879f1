"""The projection-perturbation mechanism of Liu, Wang, Guo et al. (arXiv 2305.10662), as built here.

The paper obtains privacy "by perturbing the projection vectors in the estimation of gradients with sliced
score matching"; its exact mechanism and proof were not available. Here each sample's σ-weighted projection
statistics (σ·vᵀs and σ²·vᵀJv, and σ²·½‖s‖²) are clipped to [-clip, clip] and Gaussian noise of standard
deviation noise_multiplier·clip is added to each before the loss is formed.

NOT A FORMAL DP GUARANTEE: the noise hides the value of each statistic, but the parameter gradient also
flows through the statistics' derivatives ∂(vᵀs)/∂θ, which depend on the private sample and are neither
clipped nor noised, so no (ε, δ) bound holds for the released network. Under SSM-VR the loss is linear in
the statistics, so the noise adds a constant to each sample's loss and nothing to its gradient: training
depends on the clipping alone (tests/test_gen_privacy.py). docs/private_gen.md writes out the sensitivity of
the statistics and why it does not transfer to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedkd.config.fields import above, at_least, one_of, setting
from private_gen.privacy.settings import GenPrivacySettings
from private_gen.sliced_score import ProjectionStats

GUARANTEE = "not a formal DP guarantee"
STATISTICS = ("half_sq_norm", "projected", "curvature")


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
    """Clip-and-noise hook on the projection statistics; pass it as `perturb` to the SSM loss. It counts how
    many values of each statistic its clipping cut (a clipped value passes no gradient)."""

    def __init__(self, clip: float, noise_multiplier: float) -> None:
        self.clip, self.noise_multiplier = clip, noise_multiplier
        self.clipped = dict.fromkeys(STATISTICS, 0)
        self.seen = dict.fromkeys(STATISTICS, 0)

    def _perturb(self, name: str, value: torch.Tensor) -> torch.Tensor:
        self.clipped[name] += int((value.detach().abs() > self.clip).sum())
        self.seen[name] += value.numel()
        clipped = value.clamp(-self.clip, self.clip)
        return clipped + self.noise_multiplier * self.clip * torch.randn_like(clipped)

    def __call__(self, stats: ProjectionStats) -> ProjectionStats:
        return ProjectionStats(*(self._perturb(name, getattr(stats, name)) for name in STATISTICS))

    def clipped_fraction(self) -> dict[str, float]:
        """Share of each statistic's values cut by the clipping over every call so far."""
        return {name: self.clipped[name] / self.seen[name] for name in STATISTICS if self.seen[name]}


def gradient_noise(objective_kind: str) -> str:
    """Where the mechanism's noise enters the parameter gradient for the sliced objective `objective_kind`."""
    if objective_kind == "ssm_vr":
        return ("none: the SSM-VR loss is linear in the statistics, so their noise shifts each loss by a constant "
                "and leaves its gradient unchanged; only the clipping changes training")
    return "through the noisy projection ã, which scales ∂a/∂θ in the gradient of ½ã²"
