"""The one-run audit of the private generator (Steinke, Nasr & Jagielski, NeurIPS 2023), with the canaries
included by secret coins:

- gradient canaries (white-box, as in the federated audit: Dirac gradients of norm C on one weight each, sampled
  like records in every private step); a canary's score is how much training lowered its weight, from the weights
  private training started from (seeded initialisation or public pretrained weights, both known to the attacker)
  to the released model's;
- image canaries (black-box; sparse images with random labels, `fedkd.audit.canaries.sparse_canaries`) in the
  private training split; a canary's score is minus its denoising score-matching loss under the released model
  at the `score_levels` smallest noise levels, averaged over `score_draws` draws of (level, noise) that depend on
  the canary design only. Projection perturbation perturbs the objective's statistics, not gradients, so only
  image canaries audit it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from fedkd.audit.canaries import GradientCanaries, InputCanaries, gradient_canaries, sparse_canaries
from fedkd.audit.canary_gradients import CanaryGradients
from fedkd.audit.coins import inclusion_coins
from fedkd.audit.report import judged, report_header
from fedkd.audit.settings import DP_BREAKS, CanaryAuditSettings
from fedkd.config.fields import above, at_least, one_of, setting
from private_gen.data import GenerationData
from private_gen.denoising_score import denoising_loss

GENERATOR_STREAM = 0  # the generator's coins use the stream of partition 0
THREAT_MODEL = ("the attacker knows the canaries (not the coins), the weights private training started from and the "
                "released score model's weights; it scores each canary from those only")
GEN_CANARY_KINDS = ("gradient", "input")


@dataclass
class GenAuditSettings(CanaryAuditSettings):
    """`audit` of a generator run: canaries in the private training split."""

    canary: str = setting("gradient", one_of(GEN_CANARY_KINDS), help="gradient: Dirac gradient canaries (white-box, "
                          "DP-SGD and non-private runs); input: sparse image canaries in the private split "
                          "(black-box; the only kind for projection perturbation)")
    num_canaries: int = setting(5000, at_least(2), help="m; input canaries are private records (keep m well below "
                                "the private split's size)")
    canary_norm: float = setting(100.0, above(0), help="gradient canaries' norm without DP, where no clipping bounds "
                                 "a record's gradient (under DP-SGD it is gen_privacy.max_grad_norm)")
    break_dp: str = setting("none", one_of(DP_BREAKS), help="a broken control: no_noise runs DP-SGD without noise "
                            "while the accountant still claims its ε")
    canary_pixels: int = setting(16, at_least(1), help="bright pixels of each canary image (on black)")
    score_levels: int = setting(1, at_least(1), help="the smallest noise levels a canary's loss is taken at")
    score_draws: int = setting(64, at_least(1), help="(noise level, noise) draws averaged per canary's score")


def canaries_for(settings: GenAuditSettings, data: GenerationData) -> InputCanaries:
    return sparse_canaries(settings.num_canaries, (data.shape[0], data.shape[1], data.num_classes),
                           settings.canary_pixels, settings.design_seed, GENERATOR_STREAM)


def with_canaries(data: GenerationData, settings: GenAuditSettings) -> GenerationData:
    """The private split with the canaries the secret coins include appended (they are private records: ε
    covers them like every other)."""
    canaries = canaries_for(settings, data)
    coins = inclusion_coins(settings.num_canaries, settings.secret_seed, GENERATOR_STREAM)
    images = canaries.images[coins].to(data.train_x.device, data.train_x.dtype)
    labels = canaries.labels[coins].to(data.train_y.device, data.train_y.dtype)
    return replace(data, train_x=torch.cat([data.train_x, images]), train_y=torch.cat([data.train_y, labels]))


def canary_scores(model: torch.nn.Module, canaries: InputCanaries, levels: int, draws: int,
                  seed: int) -> np.ndarray:
    """Minus each canary's mean denoising loss under `model` at its `levels` smallest noise levels (higher: more
    likely trained on)."""
    sigmas = model.sigmas
    device = sigmas.device
    smallest = torch.argsort(sigmas)[:levels].cpu()
    gen = torch.Generator().manual_seed(seed)
    x, label = canaries.images.to(device), canaries.labels.to(device)
    total = torch.zeros(len(x), device=device)
    model.eval()
    for _ in range(draws):
        level = smallest[torch.randint(len(smallest), (len(x),), generator=gen)].to(device)
        noise = torch.randn(x.shape, generator=gen).to(device)
        sigma = sigmas[level].view(-1, 1, 1, 1)
        with torch.enable_grad():  # an energy model's score is a gradient
            score = model(x + sigma * noise, level, label)
        total += denoising_loss(score, noise, sigma).detach()
    return -(total / draws).cpu().numpy()


class AuditedTraining:
    """What private training needs from an audit with image canaries (already in the private split): whether
    DP-SGD runs as the broken control. `started(model)` gives no canaries to add per step."""

    def __init__(self, settings: GenAuditSettings) -> None:
        self.breaks_dp = settings.break_dp == "no_noise"  # the broken control: DP-SGD without its noise

    def started(self, model: torch.nn.Module) -> CanaryGradients | None:
        return None


class PlantedGradients(AuditedTraining):
    """The training side of a gradient-canary audit: the design and the coins; `started(model)` keeps the weights
    private training starts from (for the attacker, who knows them) and gives the canaries to add per step."""

    def __init__(self, settings: GenAuditSettings, model: torch.nn.Module, norm: float, seed: int) -> None:
        super().__init__(settings)
        self.design = gradient_canaries(settings.num_canaries, model, norm, settings.design_seed, GENERATOR_STREAM)
        self.included = inclusion_coins(settings.num_canaries, settings.secret_seed, GENERATOR_STREAM)
        self.seed = seed
        self.start: dict[str, torch.Tensor] = {}

    def started(self, model: torch.nn.Module) -> CanaryGradients:
        self.start = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return CanaryGradients(self.design, self.included, self.seed)


def weight_drop_scores(design: GradientCanaries, start: dict[str, torch.Tensor],
                       released: torch.nn.Module) -> np.ndarray:
    """How much each canary's weight fell from `start` to the released model (higher: more likely included)."""
    final = {k: v.detach().cpu() for k, v in released.state_dict().items()}
    return np.array([float(start[k].flatten()[o] - final[k].flatten()[o])
                     for k, o in zip(design.keys, design.offsets.tolist(), strict=True)])


def generator_audit(settings: GenAuditSettings, model: torch.nn.Module, data: GenerationData,
                    privacy: dict[str, Any], method: str, planted: AuditedTraining | None) -> dict[str, Any]:
    """audit.json of a generator run; `data` is the private split without canaries, `privacy` the run's record,
    `planted` the gradient canaries' design and starting weights (a plain AuditedTraining for image canaries)."""
    if isinstance(planted, PlantedGradients):
        scores = weight_drop_scores(planted.design, planted.start, model)
    else:
        scores = canary_scores(model, canaries_for(settings, data), settings.score_levels, settings.score_draws,
                               settings.design_seed)
    claimed = privacy.get("epsilon")
    delta = float(privacy.get("delta") or 1e-5)
    mechanism = str(privacy.get("mechanism", "none"))
    mode = "non-private" if mechanism == "none" else mechanism
    if "clip" in privacy:
        mode += f", clip {privacy['clip']:g}, noise ×{privacy['noise_multiplier']:g}"
    if claimed is None and mechanism != "none":
        mode += " (not a formal DP guarantee)"
    claim = {k: privacy[k] for k in ("mechanism", "accountant", "delta", "scope", "guarantee") if k in privacy}
    if settings.break_dp == "no_noise":
        mode = "broken control (σ = 0)"
        claim["broken"] = "CONTROL: DP-SGD ran without noise; the claimed ε is false by construction"
    entry = {"audited": "generator"} | judged(settings, scores, GENERATOR_STREAM, claimed, delta)
    return report_header(settings, settings.canary, THREAT_MODEL, delta, claim if mechanism != "none" else {}) | {
        "method": method, "mode": mode, "dataset": data.name, "clients": [entry]}
