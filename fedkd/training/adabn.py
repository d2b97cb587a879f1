"""Adaptive BatchNorm (Li, Wang, Shi, Liu, Hou, "Revisiting Batch Normalization for Practical Domain
Adaptation", ICLR workshop 2017), the adaptation step of adaptable instance-relation distillation:
before testing, every BatchNorm layer's running mean and variance are re-estimated on the (unlabelled)
target data; weights, biases and every other parameter stay as they are."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, target_x: torch.Tensor, batch_size: int = 256) -> None:
    """Replace BN running statistics by the cumulative statistics of `target_x`; leaves `model` in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over all target batches
    model.eval()
    for m in norms:
        m.train()
    for start in range(0, len(target_x), batch_size):
        batch = target_x[start:start + batch_size]
        if len(batch) > 1:  # BatchNorm1d cannot take a batch of one in training mode
            model.embedding(batch)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    model.eval()
