"""Cross-resolution relational contrastive distillation, after the discriminative step of Zhang, Guo, Liu
et al., "Distilling Generative-Discriminative Representations for Very Low-Resolution Face Recognition", 2024.

For the student's LR embedding of sample i, the teacher's HR embedding of the same face is the positive
and the teacher's HR embeddings of the other faces of the batch are the negatives (InfoNCE with
temperature τ). The relational part matches the student's distribution of similarities to the teacher's
HR embeddings, softmax(ŝ_i·t̂ᵀ/τ), to the teacher's own, softmax(t̂_i·t̂ᵀ/τ), by KL divergence.
Batch-coupled.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedkd.distill.face_distiller import FaceDistiller, Positive, Terms, Weight, unit
from fedkd.distill.outputs import Outputs


class RelationalContrastiveKD(FaceDistiller):
    batch_coupled = True
    terms = ("kd_contrastive", "kd_relation")

    def __init__(self, temperature: Positive = 0.1, lambda_contrastive: Weight = 1.0,
                 lambda_relation: Weight = 1.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.lambda_contrastive, self.lambda_relation = lambda_contrastive, lambda_relation

    def forward(self, student: Outputs, teacher: Outputs, labels: torch.Tensor,
                assistant: Outputs | None = None) -> Terms:
        s, t = unit(student.embedding), unit(teacher.embedding.detach())
        student_logits = s @ t.T / self.temperature
        teacher_logits = t @ t.T / self.temperature
        targets = torch.arange(len(s), device=s.device)
        relation = F.kl_div(F.log_softmax(student_logits, 1), F.log_softmax(teacher_logits, 1),
                            reduction="batchmean", log_target=True)
        return {"kd_contrastive": self.lambda_contrastive * F.cross_entropy(student_logits, targets),
                "kd_relation": self.lambda_relation * relation}
