"""Hybrid-order relational knowledge distillation (Ge, Zhang, Liu, Hua, Zhao, Jin, Wen, "Look One and
More: Distilling Hybrid Order Relational Knowledge for Cross-Resolution Image Recognition", AAAI 2020).

First order: instance (each LR embedding regresses on its HR teacher embedding). Second order: pairwise
distances of the batch, normalised by their mean (as in RKD, Park et al., CVPR 2019). Third order: the
angle formed by every triplet of the batch (RKD's angle term). With an assistant stream (a network
between teacher and student, here the teacher fine-tuned on LR inputs), the same three relations are
also distilled from the assistant with weight `lambda_assistant`. Batch-coupled.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedkd.distill.face_distiller import FaceDistiller, Terms, Weight, feature_regression
from fedkd.distill.outputs import Outputs


def pairwise_distance_relation(embedding: torch.Tensor) -> torch.Tensor:
    distances = torch.cdist(embedding, embedding)
    off = ~torch.eye(len(embedding), dtype=torch.bool, device=embedding.device)
    return distances / distances[off].mean().clamp_min(1e-8)


def triplet_angle_relation(embedding: torch.Tensor) -> torch.Tensor:
    """cos∠(e_i − e_j, e_k − e_j) for every (i, j, k): tensor (n, n, n) indexed [j, i, k]."""
    diffs = F.normalize(embedding[None, :, :] - embedding[:, None, :], dim=2)
    return diffs @ diffs.transpose(1, 2)


class HybridOrderKD(FaceDistiller):
    batch_coupled = True
    terms = ("kd_instance", "kd_distance", "kd_angle", "kd_assistant")

    def __init__(self, lambda_instance: Weight = 1.0, lambda_distance: Weight = 1.0, lambda_angle: Weight = 2.0,
                 lambda_assistant: Weight = 0.5) -> None:
        super().__init__()
        self.weights = (lambda_instance, lambda_distance, lambda_angle)
        self.lambda_assistant = lambda_assistant

    def _relations(self, student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, ...]:
        teacher = teacher.detach()
        instance = feature_regression(student, teacher)
        distance = F.smooth_l1_loss(pairwise_distance_relation(student), pairwise_distance_relation(teacher))
        angle = F.smooth_l1_loss(triplet_angle_relation(student), triplet_angle_relation(teacher))
        return instance, distance, angle

    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        names = ("kd_instance", "kd_distance", "kd_angle")
        terms = {n: w * r for n, w, r in zip(names, self.weights, self._relations(student.embedding,
                                                                                   teacher.embedding), strict=True)}
        if assistant is not None and self.lambda_assistant:
            relations = self._relations(student.embedding, assistant.embedding)
            weighted = sum(w * r for w, r in zip(self.weights, relations, strict=True))
            terms["kd_assistant"] = self.lambda_assistant * weighted
        return terms
