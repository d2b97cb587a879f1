"""Build the configured model for the configured data."""

from __future__ import annotations

from typing import Any

from torch import nn

from fedkd.data.federated import input_shape, num_classes
from fedkd.faces.student_net import LRStudent
from fedkd.models.small_cnn import SmallCNN
from fedkd.privacy.dp_model import dp_compatible


def build_model(config: dict[str, Any]) -> nn.Module:
    """The configured model; under differential privacy with GroupNorm in place of BatchNorm."""
    model = build_architecture(config)
    privacy = config.get("privacy", {})
    if privacy.get("mode", "none") != "none":
        return dp_compatible(model, privacy["norm_groups"])
    return model


def build_architecture(config: dict[str, Any]) -> nn.Module:
    """The model of `config["model"]` for the data set's channels, input side and class count."""
    channels, side = input_shape(config)
    params = {k: v for k, v in config["model"].items() if k != "name"}
    if config["model"]["name"] == "lr_student":
        params["widths"] = tuple(params["widths"])
        return LRStudent(in_channels=channels, num_classes=num_classes(config), input_size=side, **params)
    return SmallCNN(in_channels=channels, num_classes=num_classes(config), **params)
