"""Energy parameterisation of the noise-conditional score model: a scalar E_θ(x, σ) whose negative input
gradient is the score, s_θ = −∇ₓE_θ, so a sampler can evaluate log p_σ(x) = −E_θ(x, σ) + const and run a
Metropolis correction.

Salimans & Ho ("Should EBMs model the energy or the score?", ICLR 2021 EBM workshop) found that deriving the
score of a denoising model from an energy costs little quality. Here the energy is the one of a residual
denoiser D_θ(x, σ) = x − σ·u_θ(x, σ), with u_θ the U-Net of private_gen/score_net.py (its unscaled output):

  E_θ(x, σ) = ‖x − D_θ(x, σ)‖² / (2σ²) = ½ ‖u_θ(x, σ)‖²,   s_θ = −J_uᵀ u_θ.

For the ideal u = (x − E[x₀|x])/σ this is the Gaussian-like energy whose gradient is Tweedie's score up to the
denoiser's Jacobian. The score costs one backward pass through the network (torch.func.grad, so it composes
with the JVP of sliced score matching, per-sample vmap and ordinary autograd); the curvature term of SSM
becomes a Hessian-vector product.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import grad

from private_gen.score_net import ScoreNet


class EnergyNet(nn.Module):
    """`forward(x, level, label)` is the score −∇ₓE (same interface as ScoreNet); `energy(...)` is E, shape (B,)."""

    def __init__(self, net: ScoreNet) -> None:
        super().__init__()
        self.net = net

    @property
    def sigmas(self) -> torch.Tensor:
        return self.net.sigmas

    @property
    def num_classes(self) -> int:
        return self.net.num_classes

    @property
    def null_class(self) -> bool:
        return self.net.null_class

    def energy(self, x: torch.Tensor, level: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * self.net.unscaled(x, level, label).flatten(1).pow(2).sum(1)

    def forward(self, x: torch.Tensor, level: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        # samples are independent, so the gradient of the summed energy is each sample's own gradient
        return -grad(lambda z: self.energy(z, level, label).sum())(x)
