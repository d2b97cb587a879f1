"""Noise-conditional score network s_θ(x, σ_i[, y]) ≈ ∇ₓ log p_σ(x) for 8×8 to 64×64 images.

A U-Net (two or more scales) of residual blocks with GroupNorm only (DP-SGD needs per-sample computations; no
BatchNorm), conditioned on the noise-level index (and optionally the class) through learned per-block
biases; the output is divided by σ (NCSNv2, Song & Ermon, NeurIPS 2020). The residual enhancement module
follows Liu, Wang, Guo et al. (arXiv 2305.10662): the paper adds it to improve reconstruction during score
matching; its exact form was not available here, so it is built as a refinement path that reads the input
and the base estimate and adds a correction, zero-initialised so training starts from the base network.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F

from fedkd.config.fields import at_least, setting

COARSEST_SIDE = 4  # pixels at the U-Net's lowest resolution when generator.network.scales is null


@dataclass
class ScoreNetSettings:
    """`generator.network`: the U-Net score model (GroupNorm only: DP-SGD needs per-sample computations)."""

    width: int = setting(16, at_least(8), help="channels at full resolution (twice that at half resolution)")
    blocks_per_scale: int = setting(1, at_least(1))
    scales: int | None = setting(None, at_least(2), help="resolutions of the U-Net, each half the one above; null: "
                                 "halve until the coarsest is at most 4 px (2 for 8 px, 3 for 16, 4 for 28 and 32)")
    residual_enhancement: bool = setting(True, help="refinement path on [x, base score]; the ablation turns it off")
    enhancement_blocks: int = setting(1, at_least(1))
    groups: int = setting(8, at_least(1), help="GroupNorm groups")

    def build(self, channels: int, side: int, sigmas: torch.Tensor, num_classes: int,
              null_class: bool = False) -> ScoreNet:
        """A network for images `side` pixels high and wide."""
        scales = self.scales if self.scales is not None else scales_for(side)
        return ScoreNet(channels, sigmas, self.width, self.blocks_per_scale, num_classes, self.residual_enhancement,
                        self.enhancement_blocks, self.groups, scales, null_class)


def scales_for(side: int) -> int:
    """Resolutions until the coarsest is at most COARSEST_SIDE pixels, and at least two. On the 28×28 MNIST subset
    a two-scale net (about 14 pixels of reach from each output) learns strokes without a digit's layout, three
    scales (28 → 7) most of it, four (28 → 4) the most (docs/private_gen.md, "The receptive field, measured")."""
    scales = 1
    while side > COARSEST_SIDE:
        side = (side + 1) // 2
        scales += 1
    return max(2, scales)


def _groups(channels: int, wanted: int) -> int:
    """The largest divisor of `channels` not above `wanted` (GroupNorm needs an exact split)."""
    return max(g for g in range(1, wanted + 1) if channels % g == 0)


class ConditionedBlock(nn.Module):
    """GroupNorm → SiLU → conv, twice, with a conditioning bias after the first conv; residual skip."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in, groups), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.cond = nn.Linear(cond_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out, groups), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.cond(cond)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class ResidualEnhancement(nn.Module):
    """Refinement path r([x, s_base]) added to the base estimate; its last conv starts at zero."""

    def __init__(self, channels: int, width: int, num_blocks: int, cond_dim: int, groups: int) -> None:
        super().__init__()
        self.inp = nn.Conv2d(2 * channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(ConditionedBlock(width, width, cond_dim, groups) for _ in range(num_blocks))
        self.out = nn.Conv2d(width, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, base: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.inp(torch.cat([x, base], dim=1))
        for block in self.blocks:
            h = block(h, cond)
        return base + self.out(h)


class ScoreNet(nn.Module):
    """U-Net score model: `forward(x, level, label=None)` returns the score, same shape as `x`.

    `level` holds indices into `sigmas`; `label` (class-conditional models) class indices, and with
    `null_class` also NULL_LABEL (-1) for the unconditional score that classifier-free guidance needs (one more
    row of the class embedding). `scales` resolutions (each half the one above, `width` channels at full
    resolution and twice that below); more scales widen the receptive field, which whole-image layout (a 28×28
    digit) needs.
    """

    def __init__(self, channels: int, sigmas: torch.Tensor, width: int = 32, blocks_per_scale: int = 1,
                 num_classes: int = 0, residual_enhancement: bool = True, enhancement_blocks: int = 1,
                 groups: int = 8, scales: int = 2, null_class: bool = False) -> None:
        super().__init__()
        if scales < 2:
            raise ValueError(f"scales={scales}: a U-Net needs at least 2 resolutions")
        self.register_buffer("sigmas", sigmas.clone().float())
        self.num_classes = num_classes
        self.null_class = null_class and num_classes > 0
        cond_dim = width
        widths = [width] + [2 * width] * (scales - 1)
        self.level_embedding = nn.Embedding(len(sigmas), cond_dim)
        self.class_embedding = nn.Embedding(num_classes + int(self.null_class), cond_dim) if num_classes else None
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.encoder = nn.ModuleList(
            nn.ModuleList(ConditionedBlock(c, c, cond_dim, groups) for _ in range(blocks_per_scale)) for c in widths)
        self.downsample = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in pairwise(widths))
        self.up_conv = nn.ModuleList(nn.Conv2d(b, a, 3, padding=1) for a, b in pairwise(widths))
        self.decoder = nn.ModuleList(
            nn.ModuleList(ConditionedBlock(2 * c if i == 0 else c, c, cond_dim, groups)
                          for i in range(blocks_per_scale)) for c in widths[:-1])
        self.out_norm = nn.GroupNorm(_groups(width, groups), width)
        self.out = nn.Conv2d(width, channels, 3, padding=1)
        self.enhancement = (ResidualEnhancement(channels, width, enhancement_blocks, cond_dim, groups)
                            if residual_enhancement else None)

    def forward(self, x: torch.Tensor, level: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return self.unscaled(x, level, label) / self.sigmas[level].view(-1, *([1] * (x.dim() - 1)))

    def unscaled(self, x: torch.Tensor, level: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """The network's output before the division by σ: σ times the score, about −z for x = x₀ + σz."""
        cond = self.level_embedding(level)
        if self.class_embedding is not None:
            if label is None:
                raise ValueError("this score network is class-conditional: pass label")
            if self.null_class:
                label = torch.where(label < 0, self.num_classes, label)
            cond = cond + self.class_embedding(label)
        h = self.inp(x)
        skips = []
        for scale, blocks in enumerate(self.encoder):
            if scale:
                skips.append(h)
                h = self.downsample[scale - 1](h)
            for block in blocks:
                h = block(h, cond)
        for scale in reversed(range(len(self.decoder))):
            skip = skips[scale]
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = torch.cat([self.up_conv[scale](h), skip], dim=1)
            for block in self.decoder[scale]:
                h = block(h, cond)
        score = self.out(F.silu(self.out_norm(h)))
        if self.enhancement is not None:
            score = self.enhancement(x, score, cond)
        return score
