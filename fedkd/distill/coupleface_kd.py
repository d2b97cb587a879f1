"""Mutual relation distillation in the sense of CoupleFace (Liu, Zhang, Dong, Yang, Zhu, Li, "CoupleFace:
Relation Matters for Face Recognition Distillation", ECCV 2022, arXiv 2204.05502).

Feature consistency distillation (‖ŝ_i − t̂_i‖²) plus mutual relation distillation: for each anchor i,
the informative pairs (i, j) are mined from the teacher — the `num_negatives` other-identity samples
of the batch the teacher finds most similar (hard negatives) and all same-identity samples — and the
relation-aware loss matches the student-to-teacher similarity cos(ŝ_i, t̂_j) to the teacher's own
cos(t̂_i, t̂_j) on those pairs. Batch-coupled (relations to other samples' teacher features).
"""

from __future__ import annotations

import torch

from fedkd.distill.face_distiller import Count, FaceDistiller, Terms, Weight, feature_regression, unit
from fedkd.distill.outputs import Outputs


def mine_informative_pairs(teacher_similarity: torch.Tensor, labels: torch.Tensor,
                           num_negatives: int) -> torch.Tensor:
    """Boolean (n, n) mask: same-identity pairs and each row's hardest `num_negatives` negatives."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    negatives = teacher_similarity.masked_fill(same, float("-inf"))
    k = min(num_negatives, int((~same).sum(1).min()))
    mask = same & ~eye
    if k > 0:
        hardest = negatives.topk(k, dim=1).indices
        mask = mask | torch.zeros_like(mask).scatter(1, hardest, True)
    return mask


class CoupleFaceKD(FaceDistiller):
    batch_coupled = True
    terms = ("kd_feature", "kd_mutual_relation")

    def __init__(self, lambda_feature: Weight = 1.0, lambda_relation: Weight = 1.0, num_negatives: Count = 8) -> None:
        super().__init__()
        self.lambda_feature, self.lambda_relation = lambda_feature, lambda_relation
        self.num_negatives = num_negatives

    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        s, t = unit(student.embedding), unit(teacher.embedding.detach())
        teacher_relation = t @ t.T
        mask = mine_informative_pairs(teacher_relation, labels, self.num_negatives)
        relation = ((s @ t.T - teacher_relation)[mask].pow(2).mean() if mask.any()
                    else s.sum() * 0.0)
        return {"kd_feature": self.lambda_feature * feature_regression(student.embedding, teacher.embedding),
                "kd_mutual_relation": self.lambda_relation * relation}
