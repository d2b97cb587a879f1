"""The private warm start of `pretrain=dp_merf` (settings: private_gen/pretraining.py, MerfWarmStart).

DP-MERF releases the private set's noisy mean embedding with `epsilon_share` of the run's target ε on its own;
the score model pretrains on samples of the generator fitted to that release (post-processing: no further
privacy cost), and DP-SGD fine-tunes from there. The release's composition goes to DP-SGD's accountant first,
so the noise DP-SGD draws is set for what is left and the ε every output reports covers both mechanisms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fedkd.privacy.accounting import Composition, noise_for_target
from private_gen.data import GenerationData
from private_gen.dp_merf import train_dp_merf
from private_gen.objectives import ScoreObjective
from private_gen.pretraining import MerfWarmStart, pretrain_model
from private_gen.privacy.dp_sgd import GenDPSettings
from private_gen.privacy.settings import GenPrivacySettings
from private_gen.sampling import balanced_labels
from private_gen.training import ScoreTrainSettings

SAMPLE_SEED_OFFSET = 1  # the synthetic set's latent draws, apart from the release's noise


@dataclass(frozen=True)
class WarmStart:
    """The pretrained weights, the pretraining history, what the release spent (the compositions the
    fine-tuning's accountant starts from; empty when it is not private) and the release's own privacy record."""

    state: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    spent: tuple[Composition, ...]
    release: dict[str, Any]


def release_privacy(settings: MerfWarmStart, privacy: GenPrivacySettings) -> GenPrivacySettings:
    """The release's own privacy: `epsilon_share` of the run's target ε at its δ and accountant (non-private
    when the run is)."""
    if not isinstance(privacy, GenDPSettings):
        return privacy
    share = settings.epsilon_share * privacy.target_epsilon
    sigma = noise_for_target(share, privacy.delta, 1.0, 1, privacy.accountant)
    return dataclasses.replace(privacy, target_epsilon=share, noise_multiplier=sigma)


def merf_warm_start(settings: MerfWarmStart, privacy: GenPrivacySettings, data: GenerationData,
                    build: Callable[[], nn.Module], train: ScoreTrainSettings, objective: ScoreObjective, seed: int
                    ) -> WarmStart:
    """Release, sample `settings.count` balanced images of the fitted generator, pretrain a fresh model on them.
    The generator's fitting shows progress only where the score model's training does too (`train.progress`)."""
    release = release_privacy(settings, privacy)
    shown = settings.merf.train.progress and train.progress
    merf = dataclasses.replace(settings.merf, train=dataclasses.replace(settings.merf.train, progress=shown))
    generator, _, record = train_dp_merf(data.train_x.cpu(), data.train_y.cpu(), data.num_classes, merf, release, seed)
    labels = balanced_labels(settings.count, data.num_classes)
    with torch.no_grad():
        images = generator.eval().sample(labels, torch.Generator().manual_seed(seed + SAMPLE_SEED_OFFSET))
    arrays, history = pretrain_model(images, labels, settings, build, train, objective, seed, "private warm start")
    spent = ((record["noise_multiplier"], 1.0, 1),) if isinstance(release, GenDPSettings) else ()
    return WarmStart({k: torch.from_numpy(v) for k, v in arrays.items()}, history, spent, record)
