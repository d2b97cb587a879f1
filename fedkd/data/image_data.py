"""In-memory labelled image data set shared by all sources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DataShape = tuple[int, int, int]  # (channels, side a model sees, classes)


@dataclass(frozen=True)
class ImageData:
    """Images as uint8 (N,H,W,C) and integer labels (N,); labels are 0..num_classes-1."""

    name: str
    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N,H,W,C), got {self.images.dtype} {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1])

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    def tensors(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images (n,C,H,W) in [0,1] and int64 labels for the given rows."""
        # standard (n,C,H,W) strides: a one-channel permute looks channels-last to torch, and Opacus' per-sample
        # convolution gradients come out zero for channels-last activations (tests/test_dp_modes.py)
        x = torch.from_numpy(self.images[indices]).permute(0, 3, 1, 2).to(torch.float32,
                                                                         memory_format=torch.contiguous_format)
        x.div_(255)
        return x, torch.from_numpy(self.labels[indices].astype(np.int64))
