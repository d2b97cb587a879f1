"""Denoising score matching (Vincent, Neural Computation 2011), annealed over noise levels as in NCSN
(Song & Ermon, NeurIPS 2019) and DPDM (Dockhorn, Cao, Vahdat & Kreis, TMLR 2023).

For x̃ = x + σz the score of the perturbation kernel is −z/σ, so the σ²-weighted per-sample loss is
  ½ σ² ‖s(x̃, σ) + z/σ‖² = ½ ‖σ·s(x̃, σ) + z‖²,
whose minimiser over s is the score of the σ-perturbed data. It needs only a forward pass of the model
(no input Jacobian), so under DP-SGD Opacus' own per-sample gradient hooks compute its gradients.
"""

from __future__ import annotations

import torch


def denoising_loss(score: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample ½‖σ·s + z‖², shape (B,); `sigma` broadcasts against `score` (B, 1, 1, 1)."""
    return 0.5 * (sigma * score + noise).flatten(1).pow(2).sum(1)
