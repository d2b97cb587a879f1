"""Face networks: student sizes, margin logits, adaptive BatchNorm."""

from __future__ import annotations

import math

import pytest
import torch

from fedkd.models.face_resnet import ResNetFace
from fedkd.models.lr_student import LRStudent
from fedkd.models.margin_head import margin_logits
from fedkd.training.adabn import adapt_batchnorm


@pytest.mark.parametrize("side", [8, 12, 16, 24])
def test_students_stay_under_a_quarter_million_parameters(side):
    student = LRStudent(3, 150, side)
    backbone = sum(p.numel() for n, p in student.named_parameters() if not n.startswith("head."))
    assert backbone < 250_000
    assert student.embedding(torch.rand(3, 3, side, side)).shape == (3, 128)
    assert student.stage_features(torch.rand(2, 3, side, side))[-1].shape[-1] <= 5  # last map about 4×4


def test_teacher_stage_maps_halve_in_size():
    maps = ResNetFace(3, 10).stage_features(torch.rand(2, 3, 64, 64))
    assert [m.shape[-1] for m in maps] == [32, 16, 8, 4]


def test_arcface_and_cosface_margins_by_hand():
    cosine = torch.tensor([[0.5, 0.2]])
    labels = torch.tensor([0])
    arc = margin_logits(cosine, labels, "arcface", 0.5, scale=10.0)
    assert arc[0, 0].item() == pytest.approx(10 * math.cos(math.acos(0.5) + 0.5), rel=1e-5)
    assert arc[0, 1].item() == pytest.approx(2.0)
    cos = margin_logits(cosine, labels, "cosface", 0.35, scale=10.0)
    assert cos[0].tolist() == pytest.approx([1.5, 2.0])
    assert margin_logits(cosine, labels, "none", 0.5, 10.0).tolist() == [[5.0, 2.0]]


def test_adabn_re_estimates_bn_statistics_and_changes_nothing_else():
    torch.manual_seed(0)
    student = LRStudent(3, 5, 16)
    student.train()
    student.embedding(torch.rand(16, 3, 16, 16))  # non-default running statistics
    params = {n: p.detach().clone() for n, p in student.named_parameters()}
    before = {n: b.clone() for n, b in student.named_buffers()}
    target = torch.rand(300, 3, 16, 16) * 0.3 + 0.6  # brighter target domain
    adapt_batchnorm(student, target, batch_size=100)
    assert not student.training
    assert all(torch.equal(p, params[n]) for n, p in student.named_parameters())
    stem_bn = student.stem[1]
    with torch.no_grad():
        stem_out = student.stem[0]((target - 0.5) / 0.25)
    assert torch.allclose(stem_bn.running_mean, stem_out.mean((0, 2, 3)), atol=1e-4)
    changed = [n for n, b in student.named_buffers() if not torch.equal(b, before[n])]
    assert changed and all(n.split(".")[-1] in {"running_mean", "running_var", "num_batches_tracked"}
                           for n in changed)
