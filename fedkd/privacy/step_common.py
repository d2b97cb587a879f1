"""What every DP-SGD step mode shares once its clipped, noised mean is in p.grad: the weight-only terms' gradients
(FedProx's proximal term sees no data, so it is added after the noise) and the optimizer's step; and the empty
batch's step of the modes that put the clipped sum into p.grad themselves (ghost clipping, book-keeping)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping

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


def noise_only_step(optimizer: DPOptimizerFastGradientClipping, params: list[nn.Parameter]) -> None:
    """The step of an empty Poisson batch when p.grad carries the clipped sum: a zero sum, noised, scaled and
    applied (it is accounted like any other step)."""
    optimizer.zero_grad(set_to_none=True)
    for p in params:
        p.grad = torch.zeros_like(p)
    if optimizer.pre_step():
        optimizer.original_optimizer.step()
    optimizer.zero_grad(set_to_none=True)
