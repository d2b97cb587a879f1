"""Noise levels of the annealed score model: a geometric sequence σ_1 > … > σ_L (Song & Ermon, NeurIPS 2019),
with σ_1 and L set by the rules of Song & Ermon, "Improved Techniques for Training Score-Based Generative
Models" (NeurIPS 2020) unless given:

- σ_1 near the largest Euclidean distance between two training images (their technique 1). Measuring it on
  the private set would be a data-dependent choice outside any ε, so the rule is data-independent:
  `SIGMA_MAX_PER_SQRT_DIM`·√d for d pixel values in [0, 1] (the distance can be at most √d; it is 0.60·√d for
  sklearn's digits and 0.57·√d for the MNIST subset, measured once on those public sets).
- L such that consecutive levels overlap (technique 2): the ratio γ = σ_{i-1}/σ_i solves
  Φ(√(2d)(γ − 1) + 3γ) − Φ(√(2d)(γ − 1) − 3γ) = ½, then L = 1 + log(σ_1/σ_L)/log γ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fedkd.config.fields import Invalid, above, at_least, setting


@dataclass
class NoiseSettings:
    """`generator.noise`: the noise levels of the annealed score model."""

    sigma_max: float | None = setting(1.0, above(0), help="largest σ; null: SIGMA_MAX_PER_SQRT_DIM·√(pixel "
                                      "values) (Song & Ermon 2020, technique 1, data-independent)")
    sigma_min: float = setting(0.01, above(0))
    num_levels: int | None = setting(10, at_least(1), help="null: as many as Song & Ermon 2020's overlap rule "
                                     "(technique 2) asks for the image size")

    def check(self) -> None:
        if self.sigma_max is not None and self.sigma_min >= self.sigma_max:
            raise Invalid("sigma_min", self.sigma_min, f"less than generator.noise.sigma_max={self.sigma_max}")

    def sigmas(self, dim: int) -> torch.Tensor:
        """The levels for images of `dim` pixel values (channels × height × width)."""
        sigma_max = self.sigma_max if self.sigma_max is not None else SIGMA_MAX_PER_SQRT_DIM * math.sqrt(dim)
        levels = self.num_levels if self.num_levels is not None else overlap_levels(sigma_max, self.sigma_min, dim)
        return geometric_sigmas(sigma_max, self.sigma_min, levels)


SIGMA_MAX_PER_SQRT_DIM = 0.6


def overlap_ratio(dim: int) -> float:
    """γ with Φ(√(2d)(γ − 1) + 3γ) − Φ(√(2d)(γ − 1) − 3γ) = ½ (bisection; the left side falls with γ)."""
    def overlap(gamma: float) -> float:
        a = math.sqrt(2 * dim) * (gamma - 1)
        return _phi(a + 3 * gamma) - _phi(a - 3 * gamma)

    low, high = 1.0 + 1e-9, 10.0
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if overlap(mid) > 0.5 else (low, mid)
    return low


def overlap_levels(sigma_max: float, sigma_min: float, dim: int) -> int:
    return 1 + math.ceil(math.log(sigma_max / sigma_min) / math.log(overlap_ratio(dim)))


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def geometric_sigmas(sigma_max: float, sigma_min: float, num_levels: int) -> torch.Tensor:
    """σ_1 = sigma_max down to σ_L = sigma_min with a constant ratio; a single level is sigma_min."""
    if num_levels == 1:
        return torch.tensor([sigma_min])
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), num_levels))
