"""A small convolutional classifier for low-resolution inputs (8 px and up)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fedkd.config.fields import at_least, below, setting
from fedkd.models.model_settings import ModelSettings, Shape


def _conv_block(c_in: int, c_out: int, norm_groups: int, normalize: bool) -> nn.Sequential:
    if not normalize:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())
    norm: nn.Module = nn.GroupNorm(min(norm_groups, c_out), c_out) if norm_groups > 0 else nn.BatchNorm2d(c_out)
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), norm, nn.ReLU())


class SmallCNN(nn.Module):
    """Four conv blocks (two 2x downsamplings), a pooled spatial map, an embedding and a head.

    Inputs in [0,1] are centred inside the network; without it, GroupNorm nets on many classes
    sometimes stay on the uniform-prediction plateau (seen on the 200-identity face set). The
    features keep a `pool_size` x `pool_size` spatial map: with GroupNorm, a global average
    pool would map every image to nearly the same vector (per-sample statistics are normalised).

    `norm_groups=0` (default) selects BatchNorm; `norm_groups > 0` selects GroupNorm, which DP-SGD
    needs. On the 200-identity face set at 16 px, GroupNorm runs reached 0.19 or stayed at chance
    depending on the batch order; BatchNorm learned on every seed tried. `normalize=False` drops the
    normalisation layers (biased convolutions instead), like the CNNs of the pFedSD reference code.
    `embedding()` returns the penultimate features, so the same network serves as an embedder.
    """

    def __init__(
        self, in_channels: int, num_classes: int, width: int = 32, embedding_dim: int = 128,
        norm_groups: int = 0, pool_size: int = 4, dropout: float = 0.0, normalize: bool = True,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_block(in_channels, width, norm_groups, normalize),
            _conv_block(width, width, norm_groups, normalize),
            nn.MaxPool2d(2),
            _conv_block(width, 2 * width, norm_groups, normalize),
            nn.MaxPool2d(2),
            _conv_block(2 * width, 4 * width, norm_groups, normalize),
            nn.AdaptiveAvgPool2d(pool_size),
            nn.Flatten(),
        )
        self.project = nn.Sequential(nn.Linear(4 * width * pool_size**2, embedding_dim), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(embedding_dim, num_classes)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.features((x - 0.5) / 0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x))


@dataclass
class SmallCNNSettings(ModelSettings):
    """`model=small_cnn`."""

    name: str = "small_cnn"
    width: int = setting(32, at_least(1), help="channels of the first block (x2, x4 deeper)")
    embedding_dim: int = setting(128, at_least(1))
    norm_groups: int = setting(0, at_least(0), help="0 = BatchNorm (default); >0 = GroupNorm groups, capped at "
                               "channels (DP-SGD)")
    pool_size: int = setting(4, at_least(1), help="side of the pooled spatial map")
    dropout: float = setting(0.0, at_least(0), below(1))
    normalize: bool = setting(True, help="false: no normalisation layers (the pFedSD reference's CNNs)")

    def build(self, shape: Shape) -> SmallCNN:
        channels, _, classes = shape
        return SmallCNN(channels, classes, self.width, self.embedding_dim, self.norm_groups, self.pool_size,
                        self.dropout, self.normalize)
