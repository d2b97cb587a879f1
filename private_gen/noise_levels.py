"""Noise levels of the annealed score model: a geometric sequence σ_1 > … > σ_L (Song & Ermon, NeurIPS 2019)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fedkd.config.fields import Invalid, above, at_least, setting


@dataclass
class NoiseSettings:
    """`generator.noise`: the noise levels of the annealed score model."""

    sigma_max: float = setting(1.0, above(0))
    sigma_min: float = setting(0.01, above(0))
    num_levels: int = setting(10, at_least(1))

    def check(self) -> None:
        if self.sigma_min >= self.sigma_max:
            raise Invalid("sigma_min", self.sigma_min, f"less than generator.noise.sigma_max={self.sigma_max}")

    def sigmas(self) -> torch.Tensor:
        return geometric_sigmas(self.sigma_max, self.sigma_min, self.num_levels)


def geometric_sigmas(sigma_max: float, sigma_min: float, num_levels: int) -> torch.Tensor:
    """σ_1 = sigma_max down to σ_L = sigma_min with a constant ratio; a single level is sigma_min."""
    if num_levels == 1:
        return torch.tensor([sigma_min])
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), num_levels))
