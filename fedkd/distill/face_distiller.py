"""The contract of the face distillers: a student and a frozen teacher's outputs in, named loss terms out.

Each distiller is a small `nn.Module` whose `forward(student, teacher, labels, assistant)` returns a dict
of already weighted loss terms; the trainer adds them to the student's own classification loss. Teacher
outputs are detached inside, so no gradient can reach a teacher. `batch_coupled` says whether one
sample's loss depends on the other samples of the batch (then the loss is not a per-sample loss and
DP-SGD's sensitivity analysis does not hold for it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Annotated, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from fedkd.config.fields import above, at_least, at_most
from fedkd.distill.outputs import Outputs

Terms = dict[str, torch.Tensor]
# Constructor argument types: the annotations are the distiller's settings (checked from its config section).
Weight = Annotated[float, at_least(0)]              # weight of a loss term
Positive = Annotated[float, above(0)]               # temperatures, kernel widths
Fraction = Annotated[float, above(0), at_most(1)]
Count = Annotated[int, at_least(0)]


class FaceDistiller(nn.Module, ABC):
    batch_coupled: ClassVar[bool] = False
    terms: ClassVar[tuple[str, ...]] = ()  # the names of the loss terms `forward` can return (logged per client)

    def prepare(self, teacher_embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Fit anything the loss needs from the teacher on the training set (default: nothing)."""

    @abstractmethod
    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        """Named, weighted loss terms of one batch."""


def unit(embedding: torch.Tensor) -> torch.Tensor:
    return F.normalize(embedding, dim=1)


def feature_regression(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Batch mean of ‖ŝ − t̂‖² between unit-normalised embeddings (= 2 − 2·cos)."""
    return (unit(student) - unit(teacher.detach())).pow(2).sum(1).mean()


class NoDistillation(FaceDistiller):
    """The reference student: its own classification loss only."""

    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        return {}
