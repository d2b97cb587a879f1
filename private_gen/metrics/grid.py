"""Sample grids as PNG, one row per class, titled with the run's privacy line so a grid never travels
without its ε, δ and accountant (or its "not a formal DP guarantee" label)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid


def save_grid(samples: torch.Tensor, labels: torch.Tensor, per_row: int, path: Path, title: str) -> None:
    """Up to `per_row` samples of each label per row, labels in ascending order."""
    rows = [samples[labels == c][:per_row] for c in torch.unique(labels).tolist()]
    grid = make_grid(torch.cat([r for r in rows if len(r)]).clamp(0, 1), nrow=per_row, padding=1, pad_value=1.0)
    height, width = grid.shape[1:]
    fig = plt.figure(figsize=(max(4.0, width / 40), height / 40 + 0.6), dpi=100)
    ax = fig.add_axes((0, 0, 1, height / 40 / (height / 40 + 0.6)))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    fig.suptitle(title, fontsize=7, y=0.99, va="top", wrap=True)
    fig.savefig(path)
    plt.close(fig)
