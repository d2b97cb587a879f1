"""The per-sample clipping modes of client DP-SGD (fedkd/privacy/dp_step.py): hooks, functorch and ghost clipping
give the same clipped sum, which is Σ_i min(1, C/‖g_i‖)·g_i of the per-sample gradients autograd gives; `auto`
picks ghost only where every data term is per-sample; a forced ghost mode on batch-coupled terms is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedkd.app.experiment_config import load_federated
from fedkd.distill import build_kd_loss
from fedkd.errors import UserError
from fedkd.methods.base import frozen
from fedkd.methods.fedckd import distillation_objective
from fedkd.models.small_cnn import SmallCNN
from fedkd.privacy.bookkeeping import BookkeepingStep
from fedkd.privacy.dp_step import GhostStep, HookedStep, resolved_mode
from fedkd.privacy.sample_level import ClientBudget, PrivateTraining
from fedkd.training.local import PARAMETER_TERMS, TrainSettings, is_per_sample, train_local
from tests.helpers import unbounded_budget

BOUND, LR, MU = 0.05, 0.5, 0.3


def _model() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(1, 3, width=4, embedding_dim=8, norm_groups=2, pool_size=2)


def _objective(kd_form: str = "logits"):
    teacher = frozen(_model())
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return distillation_objective({"global": (2.0, teacher)}, build_kd_loss(kd_form, 2.0))


def _terms(objective, model, anchor, x, y) -> dict[str, torch.Tensor]:
    """The distillation terms, plus a FedProx-style weight-only term (added after the noise in every mode)."""
    _, terms = objective(model, x, y)
    distance = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor, strict=True))
    return terms | {"proximal": 0.5 * MU * distance}


def _budget(mode: str, n: int) -> ClientBudget:
    return unbounded_budget(mode, n, BOUND)


def _expected_step(objective, x, y) -> list[torch.Tensor]:
    """One SGD step from autograd: each sample's data gradient clipped to C, summed, divided by the expected
    batch (here n), plus the weight-only term's gradient."""
    model = _model()
    anchor = [p.detach().clone() + 0.1 for p in model.parameters()]
    params = list(model.parameters())
    clipped = [torch.zeros_like(p) for p in params]
    for i in range(len(y)):
        terms = _terms(objective, model, anchor, x[i:i + 1], y[i:i + 1])
        data = torch.stack([v.sum() for k, v in terms.items() if k not in PARAMETER_TERMS]).sum()
        grads = torch.autograd.grad(data, params)
        norm = torch.cat([g.flatten() for g in grads]).norm()
        factor = min(1.0, BOUND / (float(norm) + 1e-6))
        clipped = [c + factor * g for c, g in zip(clipped, grads, strict=True)]
    proximal = torch.autograd.grad(_terms(objective, model, anchor, x, y)["proximal"], params)
    return [(p - LR * (c / len(y) + g)).detach() for p, c, g in zip(params, clipped, proximal, strict=True)]


STEP_CLASSES = {"ghost": GhostStep, "bookkeeping": BookkeepingStep, "hooks": HookedStep, "functorch": HookedStep}


@pytest.mark.parametrize("mode", list(STEP_CLASSES))
def test_every_mode_gives_autograds_clipped_sum(no_noise, mode):
    torch.manual_seed(1)
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 3, (6,))
    objective = _objective()
    expected = _expected_step(objective, x, y)
    model = _model()
    anchor = [p.detach().clone() + 0.1 for p in model.parameters()]
    private = PrivateTraining(_budget(mode, len(y)), seed=0)
    with private.attach(model, torch.optim.SGD(model.parameters(), lr=LR), is_per_sample(objective)) as dp:
        assert isinstance(dp, STEP_CLASSES[mode])
        terms = _terms(objective, model, anchor, x, y)
        dp.step([v for k, v in terms.items() if k not in PARAMETER_TERMS], [terms["proximal"]])
    for got, want in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(got.detach(), want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["ghost", "bookkeeping"])
def test_an_empty_batch_releases_only_noise(no_noise, mode):
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    with PrivateTraining(_budget(mode, 4), seed=0).attach(model, torch.optim.SGD(model.parameters(), lr=LR),
                                                              True) as dp:
        dp.empty()
    for got, want in zip(model.parameters(), before, strict=True):
        torch.testing.assert_close(got.detach(), want)  # zero noise, zero gradient: nothing moved


def test_auto_picks_bookkeeping_for_per_sample_objectives_and_hooks_otherwise():
    assert is_per_sample(_objective("logits")) and not is_per_sample(_objective("relational"))
    model = _model()
    assert resolved_mode("auto", True, model) == "bookkeeping"
    assert resolved_mode("auto", False, model) == "hooks"
    assert resolved_mode("functorch", True, model) == "functorch"
    for mode in ("ghost", "bookkeeping"):
        with pytest.raises(ValueError, match=f"{mode} needs an objective whose every data term is per-sample"):
            resolved_mode(mode, False, model)


class _Buffered(torch.nn.Module):
    """A trainable layer with a buffer and no grad sampler: book-keeping cannot redo it per sample."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(3))
        self.register_buffer("shift", torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def test_auto_falls_back_to_hooks_on_a_layer_bookkeeping_cannot_clip():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), _Buffered())
    assert resolved_mode("auto", True, model) == "hooks"
    with pytest.raises(ValueError, match="bookkeeping cannot clip layer 1 per sample; use hooks"):
        resolved_mode("bookkeeping", True, model)


@pytest.mark.parametrize("overrides, coupled", [
    (["dataset=digits", "lowres=none", "strategy=fedckd", "strategy.kd_form=relational"],
     "strategy.kd_form=relational's terms"),
    (["dataset=faces", "model=lr_student", "lowres=lr16", "workload=face_kd"],
     "the face_kd workload's distillation terms"),
])
@pytest.mark.parametrize("mode", ["ghost", "bookkeeping"])
def test_forced_per_sample_loss_modes_on_batch_coupled_terms_are_refused(overrides, coupled, mode):
    with pytest.raises(UserError, match=f"privacy.grad_sample_mode='{mode}' is invalid; allowed: auto or hooks; "
                                        f"{mode} needs per-sample loss terms and {coupled} couple"):
        load_federated([*overrides, "privacy=sample", f"privacy.grad_sample_mode={mode}"])


@pytest.mark.parametrize("mode", ["hooks", "ghost", "bookkeeping"])
def test_a_one_channel_batch_that_looks_channels_last_trains_the_same(no_noise, mode):
    """A (n,1,H,W) tensor made by permuting (n,H,W,1) has channels-last strides; Opacus then computed zero
    per-sample gradients for every convolution after the first (hooks: those layers got only noise; ghost: their
    norms were missed, so samples were clipped too little). Training must not depend on the layout."""
    torch.manual_seed(3)
    images, y = torch.rand(12, 8, 8, 1), torch.randint(0, 3, (12,))
    results = []
    for x in (images.permute(0, 3, 1, 2), images.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)):
        model = _model()
        budget = _budget(mode, len(y))
        train_local(model, x, y, TrainSettings(local_epochs=1, batch_size=12, optimizer="sgd", lr=LR, momentum=0.0),
                    seed=0, private=PrivateTraining(budget, seed=0))
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert images.permute(0, 3, 1, 2).stride() == (64, 1, 8, 1)  # the layout that broke it
    torch.testing.assert_close(results[0], results[1])


def test_image_tensors_have_standard_strides():
    from fedkd.data.image_data import ImageData

    data = ImageData("blank", np.zeros((4, 8, 8, 1), np.uint8), np.zeros(4, np.int64))
    x, _ = data.tensors(np.arange(4))
    assert x.stride() == (64, 64, 8, 1)
