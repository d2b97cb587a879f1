"""Tiny low-resolution (LR) face students built from depthwise-separable convolutions.

Depthwise-separable blocks as in MobileNets (Howard et al., arXiv 1704.04861) and the global
depthwise embedding layer of MobileFaceNets (Chen et al., CCBR 2018), sized for 8–24 px inputs as in
the LR students of the bridge- and selective-distillation papers (Ge et al., IEEE TIP 2019/2020).
The number of 2× down-samplings follows the input side so that the last map is about 4×4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fedkd.config.fields import NOT_EMPTY, above, at_least, each, setting
from fedkd.models.face_resnet import staged_maps
from fedkd.models.margin_head import CosineHead
from fedkd.models.model_settings import ModelSettings, Shape


def _separable(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(),
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
    )


def downsamplings(input_size: int, last_side: int = 4) -> int:
    """How many 2× reductions bring `input_size` down to about `last_side`."""
    count, side = 0, input_size
    while side > last_side + 1:
        side = (side + 1) // 2
        count += 1
    return count


class LRStudent(nn.Module):
    """Stem conv, one separable stage per entry of `widths` (stride 2 while the map is larger than
    about 4×4), a global depthwise conv over the last map, a linear embedding and a cosine head."""

    def __init__(self, in_channels: int, num_classes: int, input_size: int = 16,
                 widths: tuple[int, ...] = (24, 48, 96), embedding_dim: int = 128, scale: float = 16.0) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        reductions = downsamplings(input_size)
        stages, c_in, side = [], widths[0], input_size
        for i, width in enumerate(widths):
            stride = 2 if i >= len(widths) - reductions else 1
            stages.append(_separable(c_in, width, stride))
            c_in, side = width, (side + 1) // 2 if stride == 2 else side
        self.stages = nn.ModuleList(stages)
        self.stage_channels = tuple(widths)
        self.tail = nn.Sequential(
            nn.Conv2d(c_in, c_in, side, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.Flatten(),
            nn.Linear(c_in, embedding_dim, bias=False), nn.BatchNorm1d(embedding_dim))
        self.head = CosineHead(embedding_dim, num_classes, scale)
        self.input_size = input_size

    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return staged_maps(self.stem, self.stages, x)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.stage_features(x)[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x))


@dataclass
class LRStudentSettings(ModelSettings):
    """`model=lr_student`: the tiny LR face student; its input side is the LR side of the data."""

    name: str = "lr_student"
    widths: list[int] = setting([24, 48, 96], NOT_EMPTY, each(above(0)), help="channels of each separable stage")
    embedding_dim: int = setting(128, at_least(2), help="must equal workload.teacher.embedding_dim under "
                                 "workload=face_kd")
    scale: float = setting(16.0, above(0), help="s of the cosine classifier head")

    def build(self, shape: Shape) -> LRStudent:
        channels, side, classes = shape
        return LRStudent(channels, classes, side, tuple(self.widths), self.embedding_dim, self.scale)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def size_megabytes(module: nn.Module, bytes_per_value: int = 4) -> float:
    """Size of parameters and buffers (BN statistics) in MB (10^6 bytes)."""
    values = parameter_count(module) + sum(b.numel() for b in module.buffers() if b.is_floating_point())
    return values * bytes_per_value / 1e6
