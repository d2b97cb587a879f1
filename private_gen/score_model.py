"""The score-model generator (Liu, Wang, Guo et al., arXiv 2305.10662): a noise-conditional score network,
or the gradient of a learned energy, trained by sliced or denoising score matching, non-privately, under
DP-SGD or with projection perturbation, then sampled by an annealed sampler."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from fedkd.config.fields import one_of, setting
from fedkd.privacy.accounting import Composition
from private_gen.audit import AuditedTraining
from private_gen.data import GenerationData
from private_gen.energy_net import EnergyNet
from private_gen.generator_settings import GeneratorSettings
from private_gen.merf_warm_start import merf_warm_start
from private_gen.noise_levels import NoiseSettings
from private_gen.objectives import ScoreObjective
from private_gen.pretraining import MerfWarmStart, Pretraining, description, pretrained_state
from private_gen.privacy.dp_sgd import GenDPSettings, train_score_dp_sgd
from private_gen.privacy.projection_perturbation import (
    GUARANTEE,
    ProjectionPerturbation,
    ProjectionPerturbationSettings,
    gradient_noise,
)
from private_gen.privacy.settings import GenPrivacySettings
from private_gen.samplers import SamplerResult, SamplerSettings
from private_gen.sampling import sample_score_model
from private_gen.score_net import ScoreNetSettings
from private_gen.trainable import select_trainable
from private_gen.training import ScoreTrainSettings, train_score

PARAMETERIZATIONS = ("score", "energy")
SCOPE_WITH_RELEASE = ("sample-level (add/remove one training image), cumulative over the DP-MERF release and all "
                      "training steps")
ScoreModel = nn.Module  # a ScoreNet or an EnergyNet: forward(x, level, label) is the score
TrainedScoreModel = tuple[ScoreModel, list[dict[str, Any]], dict[str, Any]]  # model, history, privacy record


@dataclass
class ScoreModelSettings(GeneratorSettings):
    """`generator=score_ssm`."""

    name: str = "score_ssm"
    parameterization: str = setting("score", one_of(PARAMETERIZATIONS), help="score: the U-Net outputs the score; "
                                    "energy: the score is −∇ₓE of a scalar energy (Metropolis-corrected HMC)")
    network: ScoreNetSettings = field(default_factory=ScoreNetSettings)
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    objective: ScoreObjective = field(default_factory=ScoreObjective)
    train: ScoreTrainSettings = field(default_factory=ScoreTrainSettings)

    def build(self, shape: tuple[int, int, int], num_classes: int) -> ScoreModel:
        """A fresh model for images of `shape` (channels, height, width)."""
        net = self.network.build(shape[0], min(shape[1:]), self.noise.sigmas(math.prod(shape)), num_classes,
                                 null_class=self.objective.label_dropout > 0)
        return EnergyNet(net) if self.parameterization == "energy" else net


def train_score_model(settings: ScoreModelSettings, privacy: GenPrivacySettings, data: GenerationData,
                      num_classes: int, seed: int, pretraining: Pretraining, device: torch.device | str = "cpu",
                      planted: AuditedTraining | None = None) -> TrainedScoreModel:
    """The trained (EMA) network, its history (pretraining rows first) and the privacy record of the training,
    which says what the model was pretrained on; the private training starts from the pretrained weights.
    Everything trains on `device`, and the model is returned there. `planted`: an audit's side of training
    (its gradient canaries, added to every private step and told the weights private training starts from; the
    broken control)."""
    def build() -> ScoreModel:
        return settings.build(data.shape, num_classes).to(device)

    spent_before, warm_start = (), {}
    if isinstance(pretraining.settings, MerfWarmStart):
        warm = merf_warm_start(pretraining.settings, privacy, data, build, settings.train, settings.objective, seed)
        state, pre_history, spent_before = warm.state, warm.history, warm.spent
        warm_start = {"warm_start_release": warm.release}
    else:
        fingerprint = {k: v for k, v in asdict(settings).items() if k != "train"}
        state, pre_history = pretrained_state(pretraining, build, data.shape, num_classes, settings.train,
                                              settings.objective, fingerprint)
    ema, history, record = _train_private(settings, privacy, data.to(device), num_classes, seed, state, device,
                                          planted, spent_before)
    if spent_before:
        record["mechanism"] = f"DP-MERF release, then {record['mechanism']}"
        record["scope"] = SCOPE_WITH_RELEASE
    private_rows = [{"stage": "private"} | row for row in history]
    return ema, [*pre_history, *private_rows], record | {"pretraining": description(pretraining.settings)} | warm_start


def _train_private(settings: ScoreModelSettings, privacy: GenPrivacySettings, data: GenerationData,
                   num_classes: int, seed: int, state: dict[str, torch.Tensor] | None, device: torch.device | str,
                   planted: AuditedTraining | None = None, spent_before: tuple[Composition, ...] = ()
                   ) -> TrainedScoreModel:
    torch.manual_seed(seed)
    model = settings.build(data.shape, num_classes).to(device)
    if state is not None:
        model.load_state_dict(state)
    trained, total = select_trainable(model, settings.train.trainable)
    weights = {"trained_weights": {"trainable": settings.train.trainable, "trained": trained, "total": total}}
    canaries = None if planted is None else planted.started(model)
    if isinstance(privacy, GenDPSettings):
        ema, history, report = train_score_dp_sgd(model, data.train_x, data.train_y, settings.train,
                                                  settings.objective, privacy, seed, canaries,
                                                  broken_no_noise=planted is not None and planted.breaks_dp,
                                                  spent_before=spent_before)
        return ema, history, report.as_dict() | weights
    if isinstance(privacy, ProjectionPerturbationSettings):
        hook = ProjectionPerturbation(privacy.clip, privacy.noise_multiplier)
        ema, history = train_score(model, data.train_x, data.train_y, settings.train, settings.objective, seed,
                                   perturb=hook)
        return ema, history, {"mechanism": "projection perturbation (Liu et al. 2023, as built here)",
                              "epsilon": None, "guarantee": GUARANTEE, "clip": privacy.clip,
                              "noise_multiplier": privacy.noise_multiplier,
                              "clipped_fraction": hook.clipped_fraction(),
                              "gradient_noise": gradient_noise(settings.objective.kind)} | weights
    ema, history = train_score(model, data.train_x, data.train_y, settings.train, settings.objective, seed,
                               canaries=canaries)
    return ema, history, {"mechanism": "none", "epsilon": None, "guarantee": "none (non-private)"} | weights


def sample_score(model: ScoreModel, settings: ScoreModelSettings, labels: torch.Tensor, shape: tuple[int, ...],
                 sampler: SamplerSettings, seed: int) -> SamplerResult:
    return sample_score_model(model, labels, shape, sampler, seed, progress=settings.train.progress)
