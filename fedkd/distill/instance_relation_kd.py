"""Adaptable instance-relation distillation (Shi, Guo, Ge, "Low-Resolution Face Recognition via Adaptable
Instance-Relation Distillation", 2024).

Distillation step: instance level (each LR embedding regresses on its HR teacher embedding) and relation
level (the student's cosine-similarity matrix of the batch matches the teacher's). Adaptation step:
adaptive BatchNorm at inference (`fedkd.training.adabn`), selected in the method's config. Batch-coupled.
"""

from __future__ import annotations

import torch

from fedkd.distill.face_distiller import FaceDistiller, Terms, Weight, feature_regression, unit
from fedkd.distill.outputs import Outputs


class InstanceRelationKD(FaceDistiller):
    batch_coupled = True
    terms = ("kd_instance", "kd_relation")

    def __init__(self, lambda_instance: Weight = 1.0, lambda_relation: Weight = 1.0) -> None:
        super().__init__()
        self.lambda_instance, self.lambda_relation = lambda_instance, lambda_relation

    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        s, t = unit(student.embedding), unit(teacher.embedding.detach())
        off = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
        relation = (s @ s.T - t @ t.T)[off].pow(2).mean() if len(s) > 1 else s.sum() * 0.0
        return {"kd_instance": self.lambda_instance * feature_regression(student.embedding, teacher.embedding),
                "kd_relation": self.lambda_relation * relation}
