"""Build the configured model."""

from __future__ import annotations

from typing import Any

from torch import nn

from fedkd.models.small_cnn import SmallCNN

MODEL_CLASSES: dict[str, type[nn.Module]] = {"small_cnn": SmallCNN}


def build_model(model_cfg: dict[str, Any], in_channels: int, num_classes: int) -> nn.Module:
    params = {k: v for k, v in model_cfg.items() if k != "name"}
    return MODEL_CLASSES[model_cfg["name"]](in_channels=in_channels, num_classes=num_classes, **params)
