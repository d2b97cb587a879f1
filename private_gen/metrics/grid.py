"""Sample grids as PNG, one row per class, titled with the run's privacy line so a grid never travels
without its ε, δ and accountant (or its "not a formal DP guarantee" label). Small images are enlarged by
pixel repetition (nearest neighbour: no interpolation invents detail) to at least `MIN_CELL` pixels a side,
and the figure is drawn at one screen pixel per grid pixel."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

MIN_CELL = 48
DPI = 100
TITLE_POINTS = 7
CHARS_PER_INCH = 18  # DejaVu Sans at 7 pt: its average character is about 0.055 inch wide
LINE_INCHES = 0.14   # one title line at 7 pt with its leading


def upscale(images: torch.Tensor, min_side: int = MIN_CELL) -> torch.Tensor:
    """Each pixel repeated k times along both axes, k the smallest integer making the side ≥ `min_side`."""
    k = max(1, math.ceil(min_side / images.shape[-1]))
    return images.repeat_interleave(k, -2).repeat_interleave(k, -1)


def save_grid(samples: torch.Tensor, labels: torch.Tensor, per_row: int, path: Path, title: str) -> None:
    """Up to `per_row` samples of each label per row, labels in ascending order."""
    fig = grid_figure(samples, labels, per_row, title)
    fig.savefig(path)
    plt.close(fig)


def grid_figure(samples: torch.Tensor, labels: torch.Tensor, per_row: int, title: str) -> Figure:
    """The grid drawn at one screen pixel per grid pixel, under a title band as tall as its wrapped lines."""
    rows = [samples[labels == c][:per_row] for c in torch.unique(labels).tolist()]
    cells = upscale(torch.cat([r for r in rows if len(r)]).clamp(0, 1))
    grid = make_grid(cells, nrow=per_row, padding=2, pad_value=1.0)
    height, width = (n / DPI for n in grid.shape[1:])
    fig_width = max(4.0, width)
    lines = textwrap.wrap(title, int(fig_width * CHARS_PER_INCH))
    title_height = 0.1 + LINE_INCHES * len(lines)  # the title gets its own band, however many lines it wraps to
    fig = plt.figure(figsize=(fig_width, height + title_height), dpi=DPI)
    ax = fig.add_axes((0.5 - min(1.0, width / fig_width) / 2, 0, min(1.0, width / fig_width),
                       height / (height + title_height)))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    fig.suptitle("\n".join(lines), fontsize=TITLE_POINTS, y=1 - 0.05 / (height + title_height), va="top")
    return fig
