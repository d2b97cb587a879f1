"""What a distillation loss sees of a network: the embedding and the class logits of one batch."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class Outputs(NamedTuple):
    embedding: torch.Tensor
    logits: torch.Tensor


def forward_outputs(model: nn.Module, x: torch.Tensor) -> Outputs:
    """One forward pass through a model exposing `embedding(x)` and `head(embedding)`."""
    embedding = model.embedding(x)
    return Outputs(embedding, model.head(embedding))
