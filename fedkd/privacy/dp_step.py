"""One DP-SGD step of a client's local training, in the per-sample-gradient mode chosen for its objective.

- `hooks` / `functorch` (Opacus `GradSampleModule`): every sample's gradient is materialised, clipped to C and
  summed.
- `ghost`: Opacus' fast gradient clipping (Lee & Kifer, "Scaling up Differentially Private Deep Learning with
  Fast Per-Example Gradient Clipping", PoPETs 2021) with ghost clipping (Li, Tramèr, Liang, Hashimoto, "Large
  Language Models Can Be Strong Differentially Private Learners", ICLR 2022). A first backward gives every
  sample's gradient norm (from activations and backprops, without its gradient for Linear layers; other layers
  still materialise theirs); a second backward of Σ_i min(1, C/‖g_i‖)·loss_i gives the clipped sum directly.
  It needs the per-sample loss vector, so only objectives whose every data term is per-sample can use it.
- `auto`: ghost where the objective's terms are all per-sample and at least half of the model's trainable
  parameters sit in layers ghost clipping norms without per-sample gradients (Linear, Embedding); hooks
  otherwise. Measured (benchmarks/dp_cost.py, FedAvg, one run): the small CNN, 74 % of its parameters in
  Linear layers, ghost 2.89× a non-private update against hooks 3.79×; the LR face student, 25 %, ghost 4.64×
  against hooks 3.97× (its convolutions' per-sample gradients are materialised either way, and ghost clipping
  adds a second backward).

Every mode gives the same clipped sum (tests/test_dp_modes.py) and adds the same noise, N(0, σ²C²) per
coordinate of the sum. Weight-only terms (FedProx's proximal term) see no data: their gradient is added after
the noise in every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping

GRAD_SAMPLE_MODES = ("auto", "hooks", "functorch", "ghost")
AfterNoise = Callable[[], object] | None  # adds to p.grad after the noise (an audit's gradient canaries)


GHOST_SHARE = 0.5  # auto picks ghost clipping from this share of parameters in ghost-normed layers (see above)


def ghost_normed_share(model: nn.Module) -> float:
    """The share of `model`'s trainable parameters whose per-sample norms ghost clipping gets without per-sample
    gradients."""
    from opacus.grad_sample import GradSampleModuleFastGradientClipping  # imported on use

    normed = tuple(GradSampleModuleFastGradientClipping.NORM_SAMPLERS)
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ghost = sum(p.numel() for m in model.modules() if isinstance(m, normed)
                for p in m.parameters(recurse=False) if p.requires_grad)
    return ghost / max(total, 1)


def resolved_mode(mode: str, per_sample: bool, model: nn.Module) -> str:
    """The mode a training call runs in (`auto` resolved as the module docstring says)."""
    if mode == "auto":
        return "ghost" if per_sample and ghost_normed_share(model) >= GHOST_SHARE else "hooks"
    if mode == "ghost" and not per_sample:
        raise ValueError("privacy.grad_sample_mode=ghost needs an objective whose every data term is per-sample")
    return mode


def _weight_gradients(params: list[nn.Parameter],
                      weight_terms: Sequence[torch.Tensor]) -> Sequence[torch.Tensor | None]:
    if not weight_terms:
        return ()
    return torch.autograd.grad(torch.stack(list(weight_terms)).sum(), params, allow_unused=True)


def _add_and_step(optimizer: DPOptimizer, params: list[nn.Parameter], extra: Sequence[torch.Tensor | None],
                  after_noise: AfterNoise) -> None:
    """After `pre_step` put the noisy mean into p.grad: add the weight-only gradients (and `after_noise`'s) and
    step."""
    for p, g in zip(params, extra, strict=False):
        if g is not None:
            p.grad += g
    if after_noise is not None:
        after_noise()
    optimizer.original_optimizer.step()


class HookedStep:
    """Per-sample gradients materialised by Opacus' hooks (or functorch), clipped and summed by the optimizer."""

    def __init__(self, optimizer: DPOptimizer) -> None:
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]

    def step(self, data_terms: Sequence[torch.Tensor], weight_terms: Sequence[torch.Tensor],
             after_noise: AfterNoise = None) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        torch.stack([t.mean() for t in data_terms]).sum().backward()
        extra = _weight_gradients(self.params, weight_terms)
        if self.optimizer.pre_step():  # clips, accumulates, adds noise into p.grad
            _add_and_step(self.optimizer, self.params, extra, after_noise)

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
        extra = _weight_gradients(self.params, weight_terms)
        if self.optimizer.pre_step():  # adds noise to the clipped sum in p.grad, scales by the batch size
            _add_and_step(self.optimizer, self.params, extra, after_noise)

    def empty(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        for p in self.params:
            p.grad = torch.zeros_like(p)
        if self.optimizer.pre_step():
            self.optimizer.original_optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


DPStep = HookedStep | GhostStep
