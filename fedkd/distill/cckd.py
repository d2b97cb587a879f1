"""Correlation congruence knowledge distillation, CCKD (Peng, Jin, Liu, Li, Wu, Liu, Zhou, Zhang,
"Correlation Congruence for Knowledge Distillation", ICCV 2019, arXiv 1904.01802).

Besides instance congruence, the student matches the teacher's correlation matrix of the batch,
computed with the Gaussian RBF kernel approximated by its Taylor series on unit embeddings:
k(z_i, z_j) ≈ Σ_{p=0..P} exp(−2γ)·(2γ)^p / p! · (z_i·z_j)^p (γ ≈ 0.4, P = 2 in the paper).
L_cc = ‖Φ_t − Φ_s‖²_F / n². Batch-coupled.
"""

from __future__ import annotations

import math

import torch

from fedkd.distill.face_distiller import Count, FaceDistiller, Positive, Terms, Weight, feature_regression, unit
from fedkd.distill.outputs import Outputs


def taylor_gaussian_kernel(embedding: torch.Tensor, gamma: float, order: int) -> torch.Tensor:
    gram = unit(embedding) @ unit(embedding).T
    return sum(math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p) * gram.pow(p)
               for p in range(order + 1))


class CCKD(FaceDistiller):
    batch_coupled = True
    terms = ("kd_instance", "kd_correlation")

    def __init__(self, gamma: Positive = 0.4, order: Count = 2, lambda_instance: Weight = 1.0,
                 lambda_correlation: Weight = 1.0) -> None:
        super().__init__()
        self.gamma, self.order = gamma, order
        self.lambda_instance, self.lambda_correlation = lambda_instance, lambda_correlation

    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        phi_s = taylor_gaussian_kernel(student.embedding, self.gamma, self.order)
        phi_t = taylor_gaussian_kernel(teacher.embedding.detach(), self.gamma, self.order)
        correlation = (phi_t - phi_s).pow(2).sum() / len(phi_s) ** 2
        return {"kd_instance": self.lambda_instance * feature_regression(student.embedding, teacher.embedding),
                "kd_correlation": self.lambda_correlation * correlation}
