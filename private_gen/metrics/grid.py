"""Sample grids as PNG, one row per class, titled with the run's privacy line so a grid never travels
without its ε, δ and accountant (or its "not a formal DP guarantee" label). Small images are enlarged by
pixel repetition (nearest neighbour: no interpolation invents detail) to at least `MIN_CELL` pixels a side,
and the figure is drawn at one screen pixel per grid pixel."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid

MIN_CELL = 48
DPI = 100
TITLE_INCHES = 0.6


def upscale(images: torch.Tensor, min_side: int = MIN_CELL) -> torch.Tensor:
    """Each pixel repeated k times along both axes, k the smallest integer making the side ≥ `min_side`."""
    k = max(1, math.ceil(min_side / images.shape[-1]))
    return images.repeat_interleave(k, -2).repeat_interleave(k, -1)


def save_grid(samples: torch.Tensor, labels: torch.Tensor, per_row: int, path: Path, title: str) -> None:
    """Up to `per_row` samples of each label per row, labels in ascending order."""
    rows = [samples[labels == c][:per_row] for c in torch.unique(labels).tolist()]
    cells = upscale(torch.cat([r for r in rows if len(r)]).clamp(0, 1))
    grid = make_grid(cells, nrow=per_row, padding=2, pad_value=1.0)
    height, width = (n / DPI for n in grid.shape[1:])
    fig = plt.figure(figsize=(max(4.0, width), height + TITLE_INCHES), dpi=DPI)
    ax = fig.add_axes((0.5 - min(1.0, width / max(4.0, width)) / 2, 0, min(1.0, width / max(4.0, width)),
                       height / (height + TITLE_INCHES)))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    fig.suptitle(title, fontsize=7, y=0.99, va="top", wrap=True)
    fig.savefig(path)
    plt.close(fig)
