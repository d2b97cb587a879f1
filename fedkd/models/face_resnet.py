"""ResNet-style face embedding network used as the high-resolution (HR) teacher.

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016: basic residual blocks,
one stage per width with a 2× down-sampling, then the face-recognition tail of ArcFace (Deng et al.,
CVPR 2019): BatchNorm, dropout-free flatten of the last map, a linear embedding and a BatchNorm1d.
"""

from __future__ import annotations

import torch
from torch import nn

from fedkd.models.margin_head import CosineHead


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def staged_maps(stem: nn.Module, stages: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    """Each stage's output map for inputs in [0,1] (centred before the stem)."""
    maps, h = [], stem((x - 0.5) / 0.25)
    for stage in stages:
        h = stage(h)
        maps.append(h)
    return maps


class ResNetFace(nn.Module):
    """Stem (stride 2) + one residual stage per entry of `widths` + pooled embedding + cosine head.

    `stage_features(x)` returns each stage's output map (used by evolutionary distillation's guide
    modules); `embedding(x)` the face embedding; `forward(x)` the cosine logits s·cos θ.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 128),
                 blocks_per_stage: int = 1, embedding_dim: int = 128, scale: float = 16.0) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, c_in = [], widths[0]
        for i, width in enumerate(widths):
            blocks = [BasicBlock(c_in if b == 0 else width, width, 2 if (b == 0 and i > 0) else 1)
                      for b in range(blocks_per_stage)]
            stages.append(nn.Sequential(*blocks))
            c_in = width
        self.stages = nn.ModuleList(stages)
        self.stage_channels = tuple(widths)
        self.tail = nn.Sequential(nn.BatchNorm2d(c_in), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c_in, embedding_dim), nn.BatchNorm1d(embedding_dim))
        self.head = CosineHead(embedding_dim, num_classes, scale)

    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return staged_maps(self.stem, self.stages, x)

    def embed_maps(self, last_map: torch.Tensor) -> torch.Tensor:
        return self.tail(last_map)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.stage_features(x)[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x))
