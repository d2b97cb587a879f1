"""Private training data for the generators: an embedded or user data set split once into a private
training split (the only data the generator sees) and a held-out real split for evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from fedkd.config.fields import above, at_least, at_most, below, setting
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.partition import train_test_split
from fedkd.data.sources import load_image_data
from fedkd.errors import UserError


@dataclass
class GenDataSettings:
    """`data`: how the private training split and the held-out real split are made."""

    test_fraction: float = setting(0.2, above(0), below(1), help="held-out real images: evaluation only, never "
                                   "seen by the generator")
    split_seed: int = setting(0, at_least(0))
    max_train: int | None = setting(None, at_least(1), help="cap the private training split (null: all of it)")
    resolution: int | None = setting(None, at_least(8), at_most(64), help="resize to this side (null: native)")
    class_conditional: bool = setting(True, help="label-conditional generator; needed for the synthetic-to-real "
                                      "accuracies")


@dataclass(frozen=True)
class GenerationData:
    train_x: torch.Tensor   # (N, C, H, W) in [0, 1]
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    name: str

    def to(self, device: torch.device | str) -> GenerationData:
        """The same splits on `device`."""
        return GenerationData(self.train_x.to(device), self.train_y.to(device), self.test_x.to(device),
                              self.test_y.to(device), self.num_classes, self.name)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


def load_generation_data(dataset: DatasetSettings, data: GenDataSettings, cache_dir: Path) -> GenerationData:
    """Load `dataset`, optionally resize to `data.resolution`, split off `data.test_fraction` as real test data."""
    images = load_image_data(dataset, cache_dir)
    train_idx, test_idx = train_test_split(np.arange(len(images.labels)), data.test_fraction, data.split_seed)
    if data.max_train is not None:  # a seeded random subset (some sources are stored sorted by class)
        keep = np.random.default_rng(data.split_seed).permutation(len(train_idx))[: data.max_train]
        train_idx = np.sort(train_idx[keep])
    if len(train_idx) < 10:
        raise UserError(f"dataset={images.name} leaves {len(train_idx)} training images; lower data.test_fraction")
    train_x, train_y = images.tensors(train_idx)
    test_x, test_y = images.tensors(test_idx)
    if data.resolution is not None and data.resolution != images.resolution:
        size = (data.resolution, data.resolution)
        train_x = F.interpolate(train_x, size=size, mode="area").clamp(0, 1)
        test_x = F.interpolate(test_x, size=size, mode="area").clamp(0, 1)
    return GenerationData(train_x, train_y, test_x, test_y, images.num_classes, images.name)
