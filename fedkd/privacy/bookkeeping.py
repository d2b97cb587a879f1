"""Book-keeping DP-SGD: exact per-sample clipping with one backward pass and no second one.

Bu, Wang, Zha & Karypis, "Differentially Private Optimization on Large Model at Small Cost", ICML 2023. The
forward pass keeps every trainable layer's input a and output; one backward pass of Σ_i loss_i gives the
gradient g of every layer's output, per sample, without computing any weight gradient. From (a, g) alone:

- each sample's gradient norm, layer by layer: without forming its gradient where the layer has a ghost rule
  (Linear layers, the cosine head), else from its per-sample gradient (fedkd/privacy/layer_gradients.py);
- the clip factors c_i = min(1, C/(‖g_i‖ + 1e-6)), Opacus' formula;
- the clipped sum Σ_i c_i·∇_i per layer: by the ghost rule (for a Linear layer one product (c⊙g)ᵀa, the cost of its
  ordinary weight gradient), else as a weighted sum of the per-sample gradients already formed.

The sum goes to p.grad and Opacus' `DPOptimizerFastGradientClipping` adds N(0, σ²C²) and divides by the expected
batch size, exactly as under ghost clipping. The result equals the other modes' clipped sum (tests/test_dp_modes.py).
It needs the per-sample loss vector, like ghost clipping, and layer outputs that later layers do not modify in place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from fedkd.privacy.layer_gradients import GhostRule, PerSample, ghost_rule, per_sample_gradients
from fedkd.privacy.step_common import AfterNoise, add_and_step, noise_only_step, weight_gradients

if TYPE_CHECKING:
    from opacus.optimizers import DPOptimizerFastGradientClipping

EPSILON = 1e-6  # Opacus' guard in min(1, C / (‖g_i‖ + ε))


class _Call:
    """One forward call of a trainable layer: its input, its output and the output's version at that time."""

    def __init__(self, module: nn.Module, activation: torch.Tensor, output: torch.Tensor) -> None:
        self.module, self.activation, self.output = module, activation, output
        self.version = output._version
        self.backprop: torch.Tensor | None = None
        self.ghost: GhostRule | None = ghost_rule(module)

    def per_sample(self) -> PerSample:
        return per_sample_gradients(self.module, self.activation, self.backprop)


class BookkeepingStep:
    """DP-SGD steps by book-keeping on `model` (the module docstring); `optimizer` adds the noise and steps."""

    def __init__(self, model: nn.Module, optimizer: DPOptimizerFastGradientClipping) -> None:
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.max_grad_norm = optimizer.max_grad_norm
        trained = {id(p) for p in self.params}
        self.calls: list[_Call] = []
        self._model = model
        self._checked = False  # the first step checks that the layers' calls carry every parameter's gradient
        self._summing = False  # torch.func redoes some layers' forward while the sums are formed: not recorded
        self._handles = [module.register_forward_hook(self._record) for module in model.modules()
                         if any(id(p) in trained for p in module.parameters(recurse=False))]

    def _record(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not module.training or self._summing:
            return
        if len(inputs) != 1 or not isinstance(output, torch.Tensor):
            raise RuntimeError(f"book-keeping DP-SGD needs layers that take one tensor and return one; "
                               f"{type(module).__name__} does not: use privacy.grad_sample_mode=hooks")
        if output.requires_grad:
            self.calls.append(_Call(module, inputs[0].detach(), output))

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self.calls = []

    def step(self, data_terms: Sequence[torch.Tensor], weight_terms: Sequence[torch.Tensor],
             after_noise: AfterNoise = None) -> None:
        if any(t.dim() != 1 for t in data_terms):
            raise RuntimeError("book-keeping got a batch-mean loss term; the objective must declare per_sample "
                               "only when every data term is a per-sample vector")
        calls, self.calls = self.calls, []
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.stack(list(data_terms)).sum(0).sum()
        expected = None if self._checked else torch.autograd.grad(loss, self.params, retain_graph=True,
                                                                  allow_unused=True)
        self._backprops(loss, calls)
        self._summing = True
        try:
            with torch.no_grad():  # torch.func's per-sample grads inside still differentiate
                if expected is not None:
                    self._check_reach(expected, self._clipped_sums(calls, float("inf")))
                sums = self._clipped_sums(calls, self.max_grad_norm)
        finally:
            self._summing = False
        for p in self.params:  # a trained parameter the batch's loss did not reach gets a zero sum (and noise)
            p.grad = sums.get(p, torch.zeros_like(p))
        extra = weight_gradients(self.params, weight_terms)
        if self.optimizer.pre_step():  # adds noise to the clipped sum in p.grad, scales by the batch size
            add_and_step(self.optimizer, self.params, extra, after_noise)

    def _check_reach(self, expected: Sequence[torch.Tensor | None],
                     unclipped: dict[nn.Parameter, torch.Tensor]) -> None:
        """On the first step: the unclipped sums must equal autograd's gradient. A parameter used outside its layer's
        forward call (e.g. a head's weight read by a loss directly) would otherwise train on part of its gradient."""
        self._checked = True
        names = {id(p): name for name, p in self._model.named_parameters()}
        for p, want in zip(self.params, expected, strict=True):
            got = unclipped.get(p, torch.zeros_like(p))
            if not torch.allclose(got, torch.zeros_like(p) if want is None else want, rtol=1e-3,
                                  atol=1e-5 * (1.0 + float(got.abs().max()))):
                raise RuntimeError(f"book-keeping DP-SGD cannot clip parameter {names.get(id(p), '?')!r}: part of "
                                   "its gradient flows outside its layer's forward call; use "
                                   "privacy.grad_sample_mode=hooks")

    @staticmethod
    def _backprops(loss: torch.Tensor, calls: list[_Call]) -> None:
        """Every call's output gradient of Σ_i loss_i, by one backward pass that forms no weight gradient."""
        if any(call.output._version != call.version for call in calls):
            raise RuntimeError("book-keeping needs layer outputs that are not modified in place (e.g. "
                               "nn.ReLU(inplace=True)); use privacy.grad_sample_mode=hooks for this model")
        grads = torch.autograd.grad(loss, [call.output for call in calls], allow_unused=True)
        for call, grad in zip(calls, grads, strict=True):
            call.backprop = torch.zeros_like(call.output) if grad is None else grad
            call.output = None  # the graph is freed; keep only what the sums need

    def _clipped_sums(self, calls: list[_Call], bound: float) -> dict[nn.Parameter, torch.Tensor]:
        trained = {id(p) for p in self.params}
        uses = Counter(id(c.module) for c in calls)
        once = [c for c in calls if c.ghost is not None and uses[id(c.module)] == 1]
        formed = [c for c in calls if c.ghost is None or uses[id(c.module)] > 1]
        per_sample: dict[nn.Parameter, torch.Tensor] = {}
        for call in formed:  # a layer called more than once sums its calls' per-sample gradients
            for p, grad in call.per_sample().items():
                per_sample[p] = per_sample[p] + grad if p in per_sample else grad
        n = calls[0].activation.shape[0] if calls else 0
        squared = torch.zeros(n)
        for call in once:
            for p, norm in call.ghost[0](call.activation, call.backprop).items():
                if id(p) in trained:
                    squared = squared + norm
        for p, grad in per_sample.items():
            if id(p) in trained:
                squared = squared + torch.linalg.vector_norm(grad.reshape(n, -1), dim=1) ** 2
        factors = (bound / (squared.sqrt() + EPSILON)).clamp(max=1.0)
        sums = {p: torch.einsum("n,n...->...", factors, grad) for p, grad in per_sample.items()}
        for call in once:
            sums |= call.ghost[1](call.activation, call.backprop, factors)
        return {p: g for p, g in sums.items() if id(p) in trained}

    def empty(self) -> None:
        """A Poisson batch can be empty: the step still releases noise (and is accounted)."""
        self.calls = []
        noise_only_step(self.optimizer, self.params)
