"""Local training's batches: every row once per epoch, never a lone last row BatchNorm cannot train on."""

from __future__ import annotations

import pytest
import torch

from fedkd.models.lr_student import LRStudent
from fedkd.training.local import TrainSettings, shuffled_batches, train_local


@pytest.mark.parametrize(("n", "batch_size"), [(33, 8), (32, 8), (9, 8), (5, 8)])
def test_each_epoch_covers_every_row_once_without_a_batch_of_one(n, batch_size):
    batches = list(shuffled_batches(n, batch_size, 2, torch.Generator().manual_seed(0)))
    rows = torch.cat(batches)
    assert sorted(rows[:n].tolist()) == list(range(n)) and sorted(rows[n:].tolist()) == list(range(n))
    assert min(len(b) for b in batches) > 1 and max(len(b) for b in batches) <= batch_size + 1


def test_a_single_row_is_still_one_batch():
    assert [b.tolist() for b in shuffled_batches(1, 8, 1, torch.Generator().manual_seed(0))] == [[0]]


def test_the_lr_student_trains_on_a_split_that_leaves_one_row_over():
    torch.manual_seed(0)
    student = LRStudent(3, 5, 16)
    x, y = torch.rand(17, 3, 16, 16), torch.arange(17) % 5
    settings = TrainSettings(local_epochs=1, batch_size=16, optimizer="sgd", lr=0.01, momentum=0.0, weight_decay=0.0)
    metrics = train_local(student, x, y, settings, seed=0)
    assert torch.isfinite(torch.tensor(metrics["train_loss"]))
