"""Included gradient canaries in local training: in each step, each included canary is sampled like a record
(at the step's sampling rate) and, when sampled, its gradient (norm · e_j, already within the clipping bound) is
added to the step's gradient with the batch's normalisation. Under DP-SGD it is added after the noise, which
gives the same distribution as adding it to the clipped sum before the noise."""

from __future__ import annotations

import torch
from torch import nn

from fedkd.audit.canaries import GradientCanaries


class CanaryGradients:
    def __init__(self, canaries: GradientCanaries, included: torch.Tensor, seed: int) -> None:
        keys = [key for key, keep in zip(canaries.keys, included.tolist(), strict=True) if keep]
        offsets = canaries.offsets[included]
        self.count = len(keys)
        self.by_key = {key: (torch.tensor([i for i, k in enumerate(keys) if k == key]),
                             offsets[[i for i, k in enumerate(keys) if k == key]]) for key in dict.fromkeys(keys)}
        self.norm = canaries.norm
        self.generator = torch.Generator().manual_seed(seed)

    def add(self, params: dict[str, nn.Parameter], rate: float, divisor: float) -> int:
        """Add the canaries sampled in this step to the gradients of `params` (by state-dict key); returns how
        many were sampled."""
        sampled = torch.rand(self.count, generator=self.generator) < rate
        for key, (rows, offsets) in self.by_key.items():
            p = params.get(key)
            if p is None or p.grad is None:
                continue
            if not p.grad.is_contiguous():
                p.grad = p.grad.contiguous()
            hit = offsets[sampled[rows]].to(p.grad.device)
            p.grad.view(-1).index_add_(0, hit, torch.full((len(hit),), self.norm / divisor, dtype=p.grad.dtype,
                                                               device=p.grad.device))
        return int(sampled.sum())
