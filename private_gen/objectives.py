"""The score model's training objectives, selected by `generator.objective.kind`: sliced score matching
(SSM), its variance-reduced form (SSM-VR; both Song, Garg, Shi & Ermon, UAI 2019) and denoising score
matching (DSM; Vincent 2011, the objective of DPDM). All three are annealed over the noise levels and
σ²-weighted, and all draw their randomness once per batch (`ScoreBatch`) so a loss is a pure function of θ.
With `label_dropout` p a class-conditional model also learns the unconditional score: each row's label is
replaced by the null label with probability p (Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS
2021 workshop, arXiv 2207.12598), which the samplers' guidance then uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from fedkd.config.fields import at_least, below, one_of, setting
from private_gen.denoising_score import denoising_loss
from private_gen.device import randn_on
from private_gen.sliced_score import PROJECTION_KINDS, StatsHook, annealed_sliced_loss, draw_projections

OBJECTIVES = ("ssm", "ssm_vr", "dsm")
NULL_LABEL = -1  # a dropped label: the network's unconditional class (score_net.ScoreNet, null_class=True)


@dataclass
class ScoreObjective:
    """`generator.objective`: what the score network is trained to minimise."""

    kind: str = setting("ssm_vr", one_of(OBJECTIVES), help="ssm: vᵀJv + ½(vᵀs)²; ssm_vr: vᵀJv + ½‖s‖²; "
                        "dsm: ½‖σs + z‖² (no input Jacobian: cheapest, Opacus hooks under DP)")
    num_projections: int = setting(1, at_least(1), help="projections per sample (ssm, ssm_vr)")
    projection: str = setting("rademacher", one_of(PROJECTION_KINDS), help="distribution of the projections")
    noise_multiplicity: int = setting(1, at_least(1), help="draws (level, noise, projections) averaged per sample "
                                      "before its gradient")
    label_dropout: float = setting(0.0, at_least(0), below(1), help="probability a row's class is replaced by the "
                                   "null class (classifier-free guidance, sampler.guidance; class-conditional "
                                   "models); 0: no unconditional class")

    @property
    def sliced(self) -> bool:
        return self.kind != "dsm"


@dataclass(frozen=True)
class ScoreBatch:
    """Everything random about one loss evaluation."""

    x: torch.Tensor        # clean data (B, C, H, W)
    label: torch.Tensor    # class indices (B,); ignored by unconditional models
    level: torch.Tensor    # noise-level indices (B,)
    noise: torch.Tensor    # standard normal, shape of x
    v: torch.Tensor        # projections (B, M, C, H, W); M = 0 for DSM


def draw_batch(x: torch.Tensor, label: torch.Tensor, num_levels: int, objective: ScoreObjective,
               generator: torch.Generator | None = None) -> ScoreBatch:
    """Noise level, perturbation and projections for each row; with noise multiplicity K every sample is
    repeated K times in a row (rows i·K … i·K+K-1) with independent draws (Dockhorn et al., TMLR 2023:
    averaging K draws per sample lowers the variance of its gradient at no privacy cost, since all K rows
    come from one record). With label dropout each row's label is NULL_LABEL with that probability (drawn
    last, so a run without it draws exactly what it drew before the option existed)."""
    k = objective.noise_multiplicity
    if k > 1:
        x, label = x.repeat_interleave(k, 0), label.repeat_interleave(k, 0)
    level = torch.randint(num_levels, (x.shape[0],), generator=generator).to(x.device)
    noise = randn_on(x.shape, generator, x)
    projections = objective.num_projections if objective.sliced else 0
    v = draw_projections(x, projections, objective.projection, generator)
    if objective.label_dropout > 0:
        dropped = torch.rand(x.shape[0], generator=generator).to(x.device) < objective.label_dropout
        label = label.masked_fill(dropped, NULL_LABEL)
    return ScoreBatch(x, label, level, noise, v)


def annealed_loss(model: Callable[..., torch.Tensor], sigmas: torch.Tensor, batch: ScoreBatch, kind: str,
                  perturb: StatsHook | None = None) -> torch.Tensor:
    """Per-sample σ²-weighted loss of `kind` on the noise-perturbed batch, shape (B,). `model(x, level, label)`
    is the score (a network, an energy's negative gradient, or a functional call of either); `perturb`
    (projection perturbation) only exists for the sliced objectives."""
    sigma = sigmas[batch.level].view(-1, *([1] * (batch.x.dim() - 1)))
    noisy = batch.x + sigma * batch.noise
    if kind == "dsm":
        if perturb is not None:
            raise ValueError("projection perturbation perturbs sliced-score statistics; DSM has none")
        return denoising_loss(model(noisy, batch.level, batch.label), batch.noise, sigma)
    if kind not in OBJECTIVES:
        raise ValueError(f"objective {kind!r}: use one of {OBJECTIVES}")
    return annealed_sliced_loss(lambda z: model(z, batch.level, batch.label), noisy, batch.v, sigma,
                                kind == "ssm_vr", perturb)
