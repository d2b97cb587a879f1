"""Distillation losses: a hand-computed value, zero loss and zero gradient when teacher == student,
and the FedCKD objective's weighting of its terms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fedkd.distill import KD_FORMS, Outputs, build_kd_loss, forward_outputs
from fedkd.distill.logit_kd import LogitKD
from fedkd.methods.fedavg import proximal_objective
from fedkd.methods.fedckd import distillation_objective
from fedkd.models.small_cnn import SmallCNN


def test_logit_kd_matches_hand_computation():
    # Teacher logits (0, 0) give p = (1/2, 1/2); student logits (0, 2 ln 3) at T = 2 give
    # q = (1/4, 3/4). KL(p ‖ q) = ½ ln 2 + ½ ln(2/3) = ½ ln(4/3); times T² = 4: 2 ln(4/3).
    student = torch.tensor([[0.0, 2 * math.log(3)]] * 2)
    teacher = torch.zeros(2, 2)
    loss = LogitKD(2.0)(Outputs(torch.zeros(2, 3), student), Outputs(torch.zeros(2, 3), teacher))
    assert loss.item() == pytest.approx(2 * math.log(4 / 3), rel=1e-6)  # batch mean of equal rows


@pytest.mark.parametrize("form", KD_FORMS)
def test_teacher_equal_to_student_gives_zero_loss_and_gradient(form):
    torch.manual_seed(0)
    student = SmallCNN(1, 5)
    teacher = SmallCNN(1, 5)
    teacher.load_state_dict(student.state_dict())
    student.eval()
    teacher.eval()
    x = torch.rand(6, 1, 8, 8)
    with torch.no_grad():
        target = forward_outputs(teacher, x)
    loss = build_kd_loss(form, temperature=3.0)(forward_outputs(student, x), target)
    loss.backward()
    assert abs(loss.item()) < 1e-6
    grad_norm = sum(p.grad.abs().max().item() for p in student.parameters() if p.grad is not None)
    assert grad_norm < 1e-5


@pytest.mark.parametrize("form", KD_FORMS)
def test_different_teacher_gives_positive_loss(form):
    torch.manual_seed(1)
    x = torch.rand(6, 1, 8, 8)
    student, teacher = SmallCNN(1, 5).eval(), SmallCNN(1, 5).eval()
    with torch.no_grad():
        loss = build_kd_loss(form, temperature=1.0)(forward_outputs(student, x), forward_outputs(teacher, x))
    assert loss.item() > 1e-4


def test_fedckd_objective_weights_each_teacher():
    torch.manual_seed(2)
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    student, global_t, historical_t = (SmallCNN(1, 5).eval() for _ in range(3))
    kd = LogitKD(2.0)
    objective = distillation_objective({"global": (0.3, global_t), "historical": (0.7, historical_t)}, kd)
    outputs, terms = objective(student, x, y)
    with torch.no_grad():
        out = forward_outputs(student, x)
        assert all(v.shape == (4,) for v in terms.values())  # per-sample terms: DP-SGD can ghost-clip them
        assert terms["ce"].mean().item() == pytest.approx(F.cross_entropy(out.logits, y).item(), rel=1e-6)
        assert terms["kd_global"].mean().item() == pytest.approx(
            0.3 * kd(out, forward_outputs(global_t, x)).item(), rel=1e-6)
        assert terms["kd_historical"].mean().item() == pytest.approx(
            0.7 * kd(out, forward_outputs(historical_t, x)).item(), rel=1e-6)
    assert torch.equal(outputs.logits, out.logits) and torch.equal(outputs.embedding, out.embedding)


def test_proximal_term_is_half_mu_squared_distance():
    torch.manual_seed(3)
    anchor = SmallCNN(1, 5).eval()
    model = SmallCNN(1, 5).eval()
    model.load_state_dict(anchor.state_dict())
    with torch.no_grad():
        model.head.bias += 0.5  # moves 5 parameters by 0.5: squared distance 1.25
    _, terms = proximal_objective(anchor, mu=0.2)(model, torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))
    assert terms["proximal"].item() == pytest.approx(0.5 * 0.2 * 1.25, rel=1e-5)
