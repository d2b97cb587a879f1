"""Distance-wise relational distillation (Park, Kim, Lu, Cho, "Relational Knowledge Distillation",
CVPR 2019): the student copies the teacher's pairwise-distance structure of the batch.

Batch-coupled: one sample's loss depends on the others, so it is not a per-sample loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedkd.distill.outputs import Outputs


def _normalised_distances(embedding: torch.Tensor) -> torch.Tensor:
    distances = torch.cdist(embedding, embedding)
    off_diagonal = ~torch.eye(len(embedding), dtype=torch.bool, device=embedding.device)
    scale = distances[off_diagonal].mean().clamp_min(1e-8)
    return distances[off_diagonal] / scale


class DistanceRelationKD(nn.Module):
    """Smooth-L1 between the mean-normalised pairwise distances of student and teacher embeddings."""

    def forward(self, student: Outputs, teacher: Outputs) -> torch.Tensor:
        if len(student.embedding) < 2:
            return student.embedding.sum() * 0.0
        return F.smooth_l1_loss(_normalised_distances(student.embedding),
                                _normalised_distances(teacher.embedding))
