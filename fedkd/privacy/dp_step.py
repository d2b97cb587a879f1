"""One DP-SGD step of a client's local training, in the per-sample-gradient mode chosen for its objective.

- `hooks` / `functorch` (Opacus `GradSampleModule`): every sample's gradient is materialised, clipped to C and
  summed.
- `ghost`: Opacus' fast gradient clipping (Lee & Kifer, "Scaling up Differentially Private Deep Learning with
  Fast Per-Example Gradient Clipping", PoPETs 2021) with ghost clipping (Li, Tramèr, Liang, Hashimoto, "Large
  Language Models Can Be Strong Differentially Private Learners", ICLR 2022). A first backward gives every
  sample's gradient norm (from activations and backprops, without its gradient for Linear layers; other layers
  still materialise theirs); a second backward of Σ_i min(1, C/‖g_i‖)·loss_i gives the clipped sum directly.
  It needs the per-sample loss vector, so only objectives whose every data term is per-sample can use it.
- `bookkeeping` (fedkd/privacy/bookkeeping.py; Bu, Wang, Zha & Karypis, ICML 2023): one backward pass, no weight
  gradient from autograd; per-sample norms and the clipped sum from each layer's stored input and output gradient.
  Needs the per-sample loss vector too.
- `auto`: bookkeeping where the objective's terms are all per-sample and every trainable layer is one book-keeping
  handles; hooks otherwise. Measured (benchmarks/dp_cost.py, one run each, ratios to a non-private GroupNorm
  update): FedAvg on the small CNN bookkeeping 1.75×, ghost 2.84×, hooks 3.79×; FedCKD 1.43×, 1.73×, 2.26×; FedAvg
  on the LR face student 1.85×, 4.02×, 3.33× (docs/privacy.md, "Cost of DP").

Every mode gives the same clipped sum (tests/test_dp_modes.py) and adds the same noise, N(0, σ²C²) per
coordinate of the sum. Weight-only terms (FedProx's proximal term) see no data: their gradient is added after
the noise in every mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from fedkd.privacy.bookkeeping import BookkeepingStep
from fedkd.privacy.layer_gradients import unsupported_layers
from fedkd.privacy.step_common import AfterNoise, add_and_step, noise_only_step, weight_gradients

if TYPE_CHECKING:
    from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping

GRAD_SAMPLE_MODES = ("auto", "bookkeeping", "hooks", "functorch", "ghost")
PER_SAMPLE_LOSS_MODES = ("bookkeeping", "ghost")  # need every data term as a per-sample loss vector


def resolved_mode(mode: str, per_sample: bool, model: nn.Module) -> str:
    """The mode a training call runs in (`auto` resolved as the module docstring says)."""
    unsupported = unsupported_layers(model) if mode in ("auto", "bookkeeping") else []
    if mode == "auto":
        return "bookkeeping" if per_sample and not unsupported else "hooks"
    if mode in PER_SAMPLE_LOSS_MODES and not per_sample:
        raise ValueError(f"privacy.grad_sample_mode={mode} needs an objective whose every data term is per-sample")
    if unsupported:
        raise ValueError(f"privacy.grad_sample_mode=bookkeeping cannot clip layer {unsupported[0]} per sample; "
                         "use hooks")
    return mode


class HookedStep:
    """Per-sample gradients materialised by Opacus' hooks (or functorch), clipped and summed by the optimizer."""

    def __init__(self, optimizer: DPOptimizer) -> None:
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]

    def step(self, data_terms: Sequence[torch.Tensor], weight_terms: Sequence[torch.Tensor],
             after_noise: AfterNoise = None) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        torch.stack([t.mean() for t in data_terms]).sum().backward()
        extra = weight_gradients(self.params, weight_terms)
        if self.optimizer.pre_step():  # clips, accumulates, adds noise into p.grad
            add_and_step(self.optimizer, self.params, extra, after_noise)

    def empty(self) -> None:
        """A Poisson batch can be empty: the step still releases noise (and is accounted)."""
        for p in self.optimizer.params:
            p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


class GhostStep:
    """Per-sample gradient norms by ghost clipping, then one backward of the clipped per-sample losses."""

    def __init__(self, module: nn.Module, optimizer: DPOptimizerFastGradientClipping) -> None:
        self.module, self.optimizer = module, optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]

    def step(self, data_terms: Sequence[torch.Tensor], weight_terms: Sequence[torch.Tensor],
             after_noise: AfterNoise = None) -> None:
        from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

        if any(t.dim() != 1 for t in data_terms):
            raise RuntimeError("ghost clipping got a batch-mean loss term; the objective must declare per_sample "
                               "only when every data term is a per-sample vector")
        self.optimizer.zero_grad(set_to_none=True)
        per_sample = torch.stack(list(data_terms)).sum(0)
        DPTensorFastGradientClipping(self.module, self.optimizer, per_sample, "mean").backward()
        extra = weight_gradients(self.params, weight_terms)
        if self.optimizer.pre_step():  # adds noise to the clipped sum in p.grad, scales by the batch size
            add_and_step(self.optimizer, self.params, extra, after_noise)

    def empty(self) -> None:
        noise_only_step(self.optimizer, self.params)


DPStep = HookedStep | GhostStep | BookkeepingStep
