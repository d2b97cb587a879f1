"""Sliced score matching (Song, Garg, Shi & Ermon, UAI 2019), annealed over noise levels.

For a score model s(x) and projection vectors v with E[v vᵀ] = I, the per-sample objectives are
  SSM:     vᵀ ∇ₓ(vᵀ s(x)) + ½ (vᵀ s(x))²
  SSM-VR:  vᵀ ∇ₓ(vᵀ s(x)) + ½ ‖s(x)‖²        (variance-reduced; Gaussian or Rademacher v)
averaged over the projections. vᵀ∇ₓ(vᵀs) = vᵀ J v is one forward-mode product (torch.func.jvp), so
the objective costs one forward and one JVP per projection and stays differentiable in the parameters.
Annealing (private_gen/objectives.py): data are perturbed with N(0, σ_i² I), the model sees the level i, and
the loss is weighted by σ_i² (Song & Ermon, NeurIPS 2019), which makes the levels' losses comparable in scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.func import jvp

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
PROJECTION_KINDS = ("gaussian", "rademacher")


@dataclass(frozen=True)
class ProjectionStats:
    """Per-sample statistics of the estimate along the projections: (B,) norms and (B, M) projections."""

    half_sq_norm: torch.Tensor  # ½‖s‖²
    projected: torch.Tensor     # vᵀ s
    curvature: torch.Tensor     # vᵀ J v


def draw_projections(x: torch.Tensor, num: int, kind: str, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """`num` projection vectors per sample, shape (B, num, *x.shape[1:]), with E[v vᵀ] = I."""
    if kind not in PROJECTION_KINDS:
        raise ValueError(f"projection kind {kind!r}: use one of {PROJECTION_KINDS}")
    v = torch.randn((x.shape[0], num, *x.shape[1:]), generator=generator, dtype=x.dtype).to(x.device)
    return v.sign() if kind == "rademacher" else v


def projection_stats(score_fn: ScoreFn, x: torch.Tensor, v: torch.Tensor) -> ProjectionStats:
    """Statistics of `score_fn` at `x` along `v` (B, M, ...); `score_fn` must treat samples independently."""
    projected, curvature = [], []
    score = None
    for m in range(v.shape[1]):
        score, jv = jvp(score_fn, (x,), (v[:, m],))
        projected.append((v[:, m] * score).flatten(1).sum(1))
        curvature.append((v[:, m] * jv).flatten(1).sum(1))
    assert score is not None
    return ProjectionStats(0.5 * score.flatten(1).pow(2).sum(1), torch.stack(projected, 1), torch.stack(curvature, 1))


def sliced_loss(stats: ProjectionStats, variance_reduced: bool) -> torch.Tensor:
    """Per-sample SSM (or SSM-VR) loss from the projection statistics, shape (B,)."""
    quadratic = stats.half_sq_norm if variance_reduced else 0.5 * stats.projected.pow(2).mean(1)
    return stats.curvature.mean(1) + quadratic


StatsHook = Callable[[ProjectionStats], ProjectionStats]


def annealed_sliced_loss(score_fn: ScoreFn, noisy: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor,
                         variance_reduced: bool, perturb: StatsHook | None = None) -> torch.Tensor:
    """Per-sample σ²-weighted sliced score matching loss at the perturbed points `noisy`, shape (B,).

    The statistics are scaled to σ-weighted form (σ·vᵀs, σ²·vᵀJv, σ²·½‖s‖², so the loss is σ² times the
    SSM loss) before `perturb` may alter them (the projection-perturbation mechanism).
    """
    raw = projection_stats(score_fn, noisy, v)
    s = sigma.flatten()
    stats = ProjectionStats(raw.half_sq_norm * s**2, raw.projected * s[:, None], raw.curvature * s[:, None] ** 2)
    if perturb is not None:
        stats = perturb(stats)
    return sliced_loss(stats, variance_reduced)
