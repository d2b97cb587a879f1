"""Sample grids as PNG (torchvision.utils.save_image): one row per class for class-conditional samples."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image


def save_grid(samples: torch.Tensor, labels: torch.Tensor, per_row: int, path: Path) -> None:
    """Up to `per_row` samples of each label per row, labels in ascending order."""
    rows = [samples[labels == c][:per_row] for c in torch.unique(labels).tolist()]
    chosen = torch.cat([r for r in rows if len(r)])
    save_image(chosen.clamp(0, 1), path, nrow=per_row, padding=1, pad_value=1.0)
