"""What an audited client trains on: its own records plus the canaries its secret coins include."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from fedkd.audit.canaries import gradient_canaries, input_canaries
from fedkd.audit.canary_gradients import CanaryGradients
from fedkd.audit.coins import inclusion_coins
from fedkd.audit.settings import AuditSettings
from fedkd.data.image_data import DataShape
from fedkd.methods.base import RoundInput


def is_audited(settings: AuditSettings, partition_id: int) -> bool:
    return settings.enabled and partition_id in settings.clients


def with_canaries(round_input: RoundInput, settings: AuditSettings, shape: DataShape,
                  gradient_norm: float) -> RoundInput:
    """`round_input` with the included input canaries appended to the training split, or with the included
    gradient canaries attached to every training call (`gradient_norm`: the clipping bound under DP)."""
    partition = round_input.data.partition_id
    coins = inclusion_coins(settings.num_canaries, settings.secret_seed, partition)
    if settings.canary == "input":
        canaries = input_canaries(settings.num_canaries, shape, settings.design_seed, partition)
        data = round_input.data
        images = canaries.images[coins]
        high = F.interpolate(images, size=data.train_hr.shape[-2:], mode="nearest")
        data = replace(data, train_x=torch.cat([data.train_x, images.to(data.train_x.dtype)]),
                       train_y=torch.cat([data.train_y, canaries.labels[coins].to(data.train_y.dtype)]),
                       train_hr=torch.cat([data.train_hr, high.to(data.train_hr.dtype)]))
        return replace(round_input, data=data)
    design = gradient_canaries(settings.num_canaries, round_input.new_model(), gradient_norm, settings.design_seed,
                               partition)
    return replace(round_input, canaries=CanaryGradients(design, coins, round_input.seed))
