"""One entry per generator: everything `generator=<name>` selects — its default settings, how it trains and
samples, which privacy mechanisms it supports and whether it needs class labels. Adding a generator is
its own module plus one `GENERATORS.add(...)` line (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fedkd.config.registry import Registry
from private_gen.data import GenerationData
from private_gen.dp_merf import DPMERFSettings, sample_dp_merf, train_dp_merf
from private_gen.generator_settings import GeneratorSettings
from private_gen.pretraining import Pretraining
from private_gen.privacy.settings import GenPrivacySettings
from private_gen.samplers import SamplerResult
from private_gen.score_model import ScoreModelSettings, sample_score, train_score_model

Trained = tuple[nn.Module, list[dict[str, float]], dict[str, Any]]  # model, history, privacy record


@dataclass(frozen=True)
class GeneratorEntry:
    settings: GeneratorSettings
    # (settings, privacy, data, classes the model conditions on (0: none), seed, pretraining, device, an audit's
    # side of training (private_gen.audit.AuditedTraining: gradient canaries, the broken control) or None) -> trained
    train: Callable[[Any, GenPrivacySettings, GenerationData, int, int, Pretraining, torch.device, Any], Trained]
    # (model, settings, labels, image shape, sampler settings, seed) -> samples in [0, 1], evaluations, acceptance
    sample: Callable[[Any, Any, torch.Tensor, tuple[int, ...], Any, int], SamplerResult]
    privacy: tuple[str, ...]                 # the gen_privacy mechanisms it runs under
    needs_class_labels: bool = False
    pretrains: bool = False                  # whether it can start from pretrained weights (`pretrain=...`)


def _train_merf(settings: DPMERFSettings, privacy: GenPrivacySettings, data: GenerationData, num_classes: int,
                seed: int, pretraining: Pretraining, device: torch.device, planted: None = None) -> Trained:
    """DP-MERF trains on the CPU whatever `device` says: one embedding release and a small generator (the audit
    does not cover it: relations.py refuses `audit.enabled` with it)."""
    return train_dp_merf(data.train_x, data.train_y, data.num_classes, settings, privacy, seed)


GENERATORS: Registry[GeneratorEntry] = Registry("generator", lambda entry: entry.settings)
GENERATORS.add("score_ssm", GeneratorEntry(ScoreModelSettings(), train_score_model, sample_score,
                                           ("none", "dp", "projection_perturbation"), pretrains=True))
GENERATORS.add("dp_merf", GeneratorEntry(DPMERFSettings(), _train_merf, sample_dp_merf, ("none", "dp"),
                                         needs_class_labels=True))
