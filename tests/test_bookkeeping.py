"""Book-keeping DP-SGD (fedkd/privacy/bookkeeping.py, layer_gradients.py): per-layer per-sample gradients and ghost
rules against autograd run one sample at a time; a whole step on the LR face student (depthwise and 1×1
convolutions, GroupNorm, a bias-free Linear, the cosine head) against autograd's clipped sum; layers called twice;
and the two ways a model can escape the layer algebra (a parameter read outside its layer, an in-place output),
which must fail loudly rather than train on part of a gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fedkd.models.lr_student import LRStudent
from fedkd.models.margin_head import CosineHead
from fedkd.privacy.dp_model import replace_batchnorm
from fedkd.privacy.layer_gradients import conv2d_per_sample
from fedkd.privacy.sample_level import PrivateTraining
from tests.helpers import unbounded_budget

BOUND, LR = 0.05, 1.0


def _per_sample_autograd(forward, params, x, g) -> list[torch.Tensor]:
    """Each sample's gradient of <forward(x_i), g_i>, one autograd call per sample."""
    rows = [torch.autograd.grad((forward(x[i:i + 1]) * g[i:i + 1]).sum(), params) for i in range(len(x))]
    return [torch.stack(per_param) for per_param in zip(*rows, strict=True)]


@pytest.mark.parametrize("conv", [
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2),
    dict(in_channels=4, out_channels=4, kernel_size=3, padding=2, dilation=2, groups=4, bias=False),
    dict(in_channels=4, out_channels=8, kernel_size=1, bias=False),
    dict(in_channels=4, out_channels=4, kernel_size=(4, 2), stride=(1, 2), groups=4),
])
def test_conv2d_per_sample_gradients_match_autograd(conv):
    torch.manual_seed(0)
    layer = nn.Conv2d(**conv)
    x = torch.randn(5, conv["in_channels"], 9, 8)
    g = torch.randn_like(layer(x))
    got = conv2d_per_sample(layer, x, g)
    want = _per_sample_autograd(layer, list(layer.parameters()), x, g)
    assert list(got) == list(layer.parameters())
    for p, w in zip(layer.parameters(), want, strict=True):
        torch.testing.assert_close(got[p], w, rtol=1e-4, atol=1e-5)


def test_cosine_head_ghost_rule_matches_autograd():
    torch.manual_seed(0)
    head = CosineHead(8, 5, scale=4.0)
    e, g = torch.randn(6, 8), torch.randn(6, 5)
    (want,) = _per_sample_autograd(head, [head.weight], e, g)
    torch.testing.assert_close(head.ghost_norms(e, g)[head.weight], want.flatten(1).pow(2).sum(1), rtol=1e-4,
                               atol=1e-6)
    factors = torch.rand(6)
    torch.testing.assert_close(head.ghost_sum(e, g, factors)[head.weight], torch.einsum("n,n...->...", factors, want),
                               rtol=1e-4, atol=1e-6)


def _clipped_step(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Parameters after one SGD step (lr 1) on Σ_i min(1, C/‖∇_i‖)·∇_i / n, from autograd per sample."""
    params = list(model.parameters())
    total = [torch.zeros_like(p) for p in params]
    for i in range(len(y)):
        grads = torch.autograd.grad(loss_fn(model, x[i:i + 1], y[i:i + 1]).sum(), params)
        factor = min(1.0, BOUND / (float(torch.cat([g.flatten() for g in grads]).norm()) + 1e-6))
        total = [t + factor * g for t, g in zip(total, grads, strict=True)]
    return [(p - LR * t / len(y)).detach() for p, t in zip(params, total, strict=True)]


def _bookkeeping_step(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> None:
    private = PrivateTraining(unbounded_budget("bookkeeping", len(y), BOUND), seed=0)
    with private.attach(model, torch.optim.SGD(model.parameters(), lr=LR), per_sample=True) as dp:
        dp.step([loss_fn(model, x, y)], [])


def _cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y, reduction="none")


def _check_step_against_autograd(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    expected = _clipped_step(model, _cross_entropy, x, y)
    _bookkeeping_step(model, _cross_entropy, x, y)
    for got, want in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(got.detach(), want, rtol=1e-4, atol=1e-6)


def test_a_step_on_the_lr_student_is_autograds_clipped_sum(no_noise):
    torch.manual_seed(2)
    model = replace_batchnorm(LRStudent(3, 7, widths=(4, 8, 8), embedding_dim=6), groups=2)
    x, y = torch.rand(5, 3, 16, 16), torch.randint(0, 7, (5,))
    kinds = {type(m) for m in model.modules()}
    assert {nn.Conv2d, nn.GroupNorm, nn.Linear, CosineHead} <= kinds
    assert any(isinstance(m, nn.Conv2d) and m.groups > 1 for m in model.modules())
    _check_step_against_autograd(model, x, y)


class _Twice(nn.Module):
    """One Linear layer applied twice: its per-sample gradient is the sum over both calls."""

    def __init__(self) -> None:
        super().__init__()
        self.inner, self.out = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.inner(torch.tanh(self.inner(x)))))


def test_a_layer_called_twice_sums_both_calls(no_noise):
    torch.manual_seed(3)
    _check_step_against_autograd(_Twice(), torch.randn(6, 4), torch.randint(0, 3, (6,)))


class _Gate(nn.Module):
    """A layer no sampler knows (no buffers): book-keeping redoes it per sample with torch.func."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.linspace(-1.0, 1.0, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.gate)


def test_an_unknown_layer_goes_through_torch_func(no_noise):
    torch.manual_seed(5)
    _check_step_against_autograd(nn.Sequential(nn.Linear(4, 3), _Gate()), torch.randn(6, 4),
                                 torch.randint(0, 3, (6,)))


def test_a_parameter_read_outside_its_layer_is_refused(no_noise):
    torch.manual_seed(4)
    model, x, y = nn.Sequential(nn.Linear(4, 3)), torch.randn(6, 4), torch.randint(0, 3, (6,))

    def reads_the_weight(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _cross_entropy(m, x, y) + (x[:, :3] * m[0].weight[:, 0]).sum(1)

    with pytest.raises(RuntimeError, match=r"cannot clip parameter '0\.weight': part of its gradient flows outside"):
        _bookkeeping_step(model, reads_the_weight, x, y)


def test_an_output_modified_in_place_is_refused(no_noise):
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 3))
    with pytest.raises(RuntimeError, match=r"not modified in place \(e.g. nn.ReLU\(inplace=True\)\)"):
        _bookkeeping_step(model, _cross_entropy, torch.randn(6, 4), torch.randint(0, 3, (6,)))


class _Pair(nn.Module):
    """A trainable layer of two inputs: book-keeping keeps only one input per call, so it must refuse it."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x * self.mix + y


def test_a_layer_of_two_inputs_is_refused(no_noise):
    model = _Pair()
    x = torch.randn(6, 4)
    with pytest.raises(RuntimeError, match="layers that take one tensor and return one; _Pair does not"):
        _bookkeeping_step(model, lambda m, x, y: (m(x, x) ** 2).sum(1), x, torch.zeros(6, dtype=torch.long))
