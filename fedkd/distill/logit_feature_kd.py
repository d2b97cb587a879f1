"""Baseline response and feature distillation.

Logits: Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", NIPS DL workshop 2015
(T²·KL of temperature-softened class posteriors). Features: plain regression of the student's embedding
on the teacher's (the "feature consistency distillation" baseline of CoupleFace, Liu et al., 2022), on
unit-normalised embeddings because faces are compared by cosine.
"""

from __future__ import annotations

import torch

from fedkd.distill.face_distiller import FaceDistiller, Positive, Terms, Weight, feature_regression
from fedkd.distill.logit_kd import LogitKD
from fedkd.distill.outputs import Outputs


class LogitFeatureKD(FaceDistiller):
    terms = ("kd_logits", "kd_feature")

    def __init__(self, lambda_logits: Weight = 1.0, temperature: Positive = 4.0, lambda_feature: Weight = 0.0) -> None:
        super().__init__()
        self.lambda_logits, self.lambda_feature = lambda_logits, lambda_feature
        self.logit_kd = LogitKD(temperature)

    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        terms: Terms = {}
        if self.lambda_logits:
            detached = Outputs(teacher.embedding.detach(), teacher.logits.detach())
            terms["kd_logits"] = self.lambda_logits * self.logit_kd(student, detached)
        if self.lambda_feature:
            terms["kd_feature"] = self.lambda_feature * feature_regression(student.embedding, teacher.embedding)
        return terms
