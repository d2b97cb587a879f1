"""The canaries an audited client may train on, built from public facts only (the data shape, the model and
`audit.design_seed`), so that the attacker can rebuild them; which of them a client includes is `coins.py`'s.

- input canaries (black-box): images of uniform noise in the data's [0, 1] range, each with a random label,
  out of distribution for every data set fedkd generates; included ones are appended to the client's training
  split as ordinary records.
- gradient canaries (white-box, Nasr et al., "Tight Auditing of Differentially Private Machine Learning",
  USENIX Security 2023): canary i is a per-sample gradient of norm C on one weight coordinate, distinct per
  canary ("Dirac" canaries); an included canary is a record whose clipped gradient is that vector in every
  step it is sampled in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fedkd.data.image_data import DataShape

DESIGN_STREAM = 7_919  # separates each audited client's canaries


def _design_generator(design_seed: int, partition_id: int) -> torch.Generator:
    return torch.Generator().manual_seed(design_seed * 1_000_003 + partition_id * DESIGN_STREAM)


@dataclass(frozen=True)
class InputCanaries:
    images: torch.Tensor  # (m, channels, side, side), in [0, 1]
    labels: torch.Tensor  # (m,)


def input_canaries(num: int, shape: DataShape, design_seed: int, partition_id: int) -> InputCanaries:
    channels, side, classes = shape
    gen = _design_generator(design_seed, partition_id)
    images = torch.rand((num, channels, side, side), generator=gen)
    return InputCanaries(images, torch.randint(0, classes, (num,), generator=gen))


@dataclass(frozen=True)
class GradientCanaries:
    """Canary i is norm · e_{coordinate i} in the flattened weight `keys[i]`."""

    keys: tuple[str, ...]
    offsets: torch.Tensor  # (m,) flat index into that weight
    norm: float


def trainable_weights(model: nn.Module) -> list[tuple[str, int]]:
    """(state-dict key, size) of every trainable parameter, in the model's order."""
    return [(name, p.numel()) for name, p in model.named_parameters() if p.requires_grad]


def gradient_canaries(num: int, model: nn.Module, norm: float, design_seed: int,
                      partition_id: int) -> GradientCanaries:
    """m distinct coordinates drawn uniformly over the model's trainable weights."""
    weights = trainable_weights(model)
    total = sum(size for _, size in weights)
    if num > total:
        raise ValueError(f"audit.num_canaries={num} exceeds the model's {total} trainable weights")
    flat = torch.randperm(total, generator=_design_generator(design_seed, partition_id))[:num]
    starts = torch.tensor([0, *torch.cumsum(torch.tensor([s for _, s in weights]), 0).tolist()])
    which = torch.searchsorted(starts, flat, right=True) - 1
    return GradientCanaries(tuple(weights[i][0] for i in which.tolist()), flat - starts[which], norm)


def sparse_canaries(num: int, shape: DataShape, pixels: int, design_seed: int, partition_id: int) -> InputCanaries:
    """Black images with `pixels` random pixels at 1 (in every channel), each with a random label: low-entropy
    out-of-distribution records, which a generative model memorises more readily than noise (measured for the
    score model on digits: docs/privacy.md#auditing)."""
    channels, side, classes = shape
    gen = _design_generator(design_seed, partition_id)
    on = torch.stack([torch.randperm(side * side, generator=gen)[:pixels] for _ in range(num)])
    images = torch.zeros(num, side * side).scatter_(1, on, 1.0)
    images = images.view(num, 1, side, side).expand(num, channels, side, side).contiguous()
    return InputCanaries(images, torch.randint(0, classes, (num,), generator=gen))
