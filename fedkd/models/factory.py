"""Build the configured model for the configured data."""

from __future__ import annotations

from typing import Any

from torch import nn

from fedkd.data.federated import input_shape, num_classes
from fedkd.faces.student_net import LRStudent
from fedkd.models.small_cnn import SmallCNN
from fedkd.privacy.dp_model import dp_compatible

Shape = tuple[int, int, int]  # (channels, input side, classes)


def build_model(config: dict[str, Any], shape: Shape | None = None) -> nn.Module:
    """The configured model; under differential privacy with GroupNorm in place of BatchNorm.

    `shape` gives (channels, side, classes) where the data set itself is not at hand (a SuperNode
    holding only its partition file); by default they come from the configured data set."""
    model = build_architecture(config, shape)
    privacy = config.get("privacy", {})
    if privacy.get("mode", "none") != "none":
        return dp_compatible(model, privacy["norm_groups"])
    return model


def build_architecture(config: dict[str, Any], shape: Shape | None = None) -> nn.Module:
    """The model of `config["model"]` for the data set's channels, input side and class count."""
    channels, side, classes = shape or (*input_shape(config), num_classes(config))
    params = {k: v for k, v in config["model"].items() if k != "name"}
    if config["model"]["name"] == "lr_student":
        params["widths"] = tuple(params["widths"])
        return LRStudent(in_channels=channels, num_classes=classes, input_size=side, **params)
    return SmallCNN(in_channels=channels, num_classes=classes, **params)
