"""Noise levels of the annealed score model: a geometric sequence σ_1 > … > σ_L (Song & Ermon, NeurIPS 2019)."""

from __future__ import annotations

import math

import torch


def geometric_sigmas(sigma_max: float, sigma_min: float, num_levels: int) -> torch.Tensor:
    """σ_1 = sigma_max down to σ_L = sigma_min with a constant ratio; a single level is sigma_min."""
    if num_levels == 1:
        return torch.tensor([sigma_min])
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), num_levels))
