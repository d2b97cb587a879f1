"""Sliced score matching (Song, Garg, Shi & Ermon, UAI 2019), annealed over noise levels.

For a score model s(x) and projection vectors v with E[v vᵀ] = I, the per-sample objectives are
  SSM:     vᵀ ∇ₓ(vᵀ s(x)) + ½ (vᵀ s(x))²
  SSM-VR:  vᵀ ∇ₓ(vᵀ s(x)) + ½ ‖s(x)‖²        (variance-reduced; Gaussian or Rademacher v)
averaged over the projections. vᵀ∇ₓ(vᵀs) = vᵀ J v is one forward-mode product (torch.func.jvp), so
the objective costs one forward and one JVP per projection and stays differentiable in the parameters.
Annealing: data are perturbed with N(0, σ_i² I), the model sees the level i, and the loss is weighted by
σ_i² (Song & Ermon, NeurIPS 2019), which makes the levels' losses comparable in scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.func import jvp

from fedkd.config.fields import at_least, one_of, setting

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
PROJECTION_KINDS = ("gaussian", "rademacher")


@dataclass
class SSMObjective:
    """`generator.ssm`: the sliced score matching objective."""

    num_projections: int = setting(1, at_least(1))
    projection: str = setting("rademacher", one_of(PROJECTION_KINDS))
    variance_reduced: bool = setting(True, help="SSM-VR (½‖s‖²) instead of ½(vᵀs)²")
    noise_multiplicity: int = setting(1, at_least(1), help="draws (level, noise, projections) averaged per sample "
                                      "before its gradient")


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
    v = torch.randn((x.shape[0], num, *x.shape[1:]), generator=generator, dtype=x.dtype, device=x.device)
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


@dataclass(frozen=True)
class SSMBatch:
    """Everything random about one loss evaluation, drawn once so the loss is a pure function of θ."""

    x: torch.Tensor        # clean data (B, C, H, W)
    label: torch.Tensor    # class indices (B,); ignored by unconditional models
    level: torch.Tensor    # noise-level indices (B,)
    noise: torch.Tensor    # standard normal, shape of x
    v: torch.Tensor        # projections (B, M, C, H, W)


def draw_batch(x: torch.Tensor, label: torch.Tensor, num_levels: int, num_projections: int, kind: str,
               generator: torch.Generator | None = None, multiplicity: int = 1) -> SSMBatch:
    """Noise level, perturbation and projections for each row; with `multiplicity` K every sample is
    repeated K times in a row (rows i·K … i·K+K-1) with independent draws ("noise multiplicity",
    Dockhorn et al., TMLR 2023: averaging K draws per sample lowers the variance of its gradient at no
    privacy cost, since all K rows come from one record)."""
    if multiplicity > 1:
        x, label = x.repeat_interleave(multiplicity, 0), label.repeat_interleave(multiplicity, 0)
    level = torch.randint(num_levels, (x.shape[0],), generator=generator, device=x.device)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return SSMBatch(x, label, level, noise, draw_projections(x, num_projections, kind, generator))


StatsHook = Callable[[ProjectionStats], ProjectionStats]


def annealed_ssm_loss(model: Callable[..., torch.Tensor], sigmas: torch.Tensor, batch: SSMBatch,
                      variance_reduced: bool, perturb: StatsHook | None = None) -> torch.Tensor:
    """Per-sample σ²-weighted sliced score matching loss on noise-perturbed data, shape (B,).

    The statistics are scaled to σ-weighted form (σ·vᵀs, σ²·vᵀJv, σ²·½‖s‖², so the loss is σ² times the
    SSM loss) before `perturb` may alter them (the projection-perturbation mechanism); `model(x, level,
    label)` is the score network or a functional call of it.
    """
    sigma = sigmas[batch.level].view(-1, *([1] * (batch.x.dim() - 1)))
    noisy = batch.x + sigma * batch.noise
    raw = projection_stats(lambda z: model(z, batch.level, batch.label), noisy, batch.v)
    s = sigma.flatten()
    stats = ProjectionStats(raw.half_sq_norm * s**2, raw.projected * s[:, None], raw.curvature * s[:, None] ** 2)
    if perturb is not None:
        stats = perturb(stats)
    return sliced_loss(stats, variance_reduced)
