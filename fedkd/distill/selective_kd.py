"""Selective knowledge distillation (Ge, Zhao, Li, Li, "Low-Resolution Face Recognition in the Wild via
Selective Knowledge Distillation", IEEE TIP 28(4), 2019).

The paper regresses the LR student only on the teacher features that are most informative for identity,
chosen by an optimisation over the teacher's features, next to the student's own LR classification loss.
Here the selection criterion is the Fisher ratio of each teacher embedding dimension on the training set
(between-identity variance / within-identity variance of the unit-normalised teacher embedding); the
`keep_fraction` highest-ratio dimensions are regressed, the others left free.
"""

from __future__ import annotations

import torch

from fedkd.distill.face_distiller import FaceDistiller, Fraction, Terms, Weight, unit
from fedkd.distill.outputs import Outputs


def fisher_ratio(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-dimension between-class over within-class variance."""
    classes = labels.unique()
    means = torch.stack([embeddings[labels == c].mean(0) for c in classes])
    within = torch.stack([embeddings[labels == c].var(0, unbiased=False) for c in classes]).mean(0)
    return means.var(0, unbiased=False) / within.clamp_min(1e-12)


class SelectiveKD(FaceDistiller):
    terms = ("kd_selective",)

    def __init__(self, keep_fraction: Fraction = 0.5, lambda_feature: Weight = 1.0) -> None:
        super().__init__()
        self.keep_fraction, self.lambda_feature = keep_fraction, lambda_feature
        self.register_buffer("selected", torch.empty(0, dtype=torch.long))

    def prepare(self, teacher_embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        ratio = fisher_ratio(unit(teacher_embeddings), labels)
        keep = max(1, round(self.keep_fraction * len(ratio)))
        self.selected = ratio.argsort(descending=True)[:keep]

    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        if self.selected.numel() == 0:
            raise RuntimeError("SelectiveKD.prepare() must run on the teacher's training embeddings first")
        s, t = unit(student.embedding), unit(teacher.embedding.detach())
        diff = (s[:, self.selected] - t[:, self.selected]).pow(2).sum(1).mean()
        return {"kd_selective": self.lambda_feature * diff}
