"""Feature-level distillation by cosine agreement of embeddings, for workloads without class logits
(face verification): the feature-consistency form that the face-distillation papers in shared/seeds/
(e.g. CoupleFace, Liu et al., ECCV 2022) use as their baseline, written as a per-sample cosine."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedkd.distill.outputs import Outputs


class CosineEmbeddingKD(nn.Module):
    """Batch mean of 1 − cos(student embedding, teacher embedding); 0 when the directions agree."""

    def forward(self, student: Outputs, teacher: Outputs) -> torch.Tensor:
        return self.per_sample(student, teacher).mean()

    def per_sample(self, student: Outputs, teacher: Outputs) -> torch.Tensor:
        """The loss of each row, shape [batch]."""
        return 1.0 - F.cosine_similarity(student.embedding, teacher.embedding, dim=1)
