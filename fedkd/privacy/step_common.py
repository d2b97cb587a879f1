"""What every DP-SGD step mode shares once its clipped, noised mean is in p.grad: the weight-only terms' gradients
(FedProx's proximal term sees no data, so it is added after the noise) and the optimizer's step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from opacus.optimizers import DPOptimizer

AfterNoise = Callable[[], object] | None  # adds to p.grad after the noise (an audit's gradient canaries)


def weight_gradients(params: list[nn.Parameter], weight_terms: Sequence[torch.Tensor]) -> Sequence[torch.Tensor | None]:
    if not weight_terms:
        return ()
    return torch.autograd.grad(torch.stack(list(weight_terms)).sum(), params, allow_unused=True)


def add_and_step(optimizer: DPOptimizer, params: list[nn.Parameter], extra: Sequence[torch.Tensor | None],
                 after_noise: AfterNoise) -> None:
    """After `pre_step` put the noisy mean into p.grad: add the weight-only gradients (and `after_noise`'s) and
    step."""
    for p, g in zip(params, extra, strict=False):
        if g is not None:
            p.grad += g
    if after_noise is not None:
        after_noise()
    optimizer.original_optimizer.step()
