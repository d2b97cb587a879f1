"""Cosine classifier head and the additive angular (ArcFace) and additive cosine (CosFace) margin losses.

ArcFace: Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face Recognition",
CVPR 2019 — target logit s·cos(θ + m). CosFace: Wang et al., "CosFace: Large Margin Cosine Loss for Deep
Face Recognition", CVPR 2018 — target logit s·(cos θ − m). At inference the head returns s·cos θ.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MARGIN_KINDS = ("arcface", "cosface", "none")


class CosineHead(nn.Module):
    """Logits s·cos(θ_j) between the embedding and each class centre w_j."""

    def __init__(self, embedding_dim: int, num_classes: int, scale: float = 16.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.normal_(self.weight, std=0.01)
        self.scale = scale

    def cosine(self, embedding: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(embedding, dim=1), F.normalize(self.weight, dim=1))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.scale * self.cosine(embedding)

    def _ghost_terms(self, embedding: torch.Tensor, grad_logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        unit_w = F.normalize(self.weight, dim=1)
        unit_e = F.normalize(embedding, dim=1)
        scaled = grad_logits * (self.scale / self.weight.norm(dim=1).clamp_min(1e-12))  # s·g_ij / ‖w_j‖
        return unit_w, unit_e, scaled, unit_e @ unit_w.T

    def ghost_norms(self, embedding: torch.Tensor, grad_logits: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        """Each sample's squared gradient norm for the class centres, without forming the gradient (book-keeping
        DP-SGD, fedkd/privacy/bookkeeping.py): row j of sample i's gradient is (s·g_ij/‖w_j‖)(ê_i − cos_ij·ŵ_j),
        whose squared norm is (s·g_ij/‖w_j‖)²(1 − cos_ij²) for a unit ê_i."""
        _, unit_e, scaled, cos = self._ghost_terms(embedding, grad_logits)
        length = (unit_e * unit_e).sum(1, keepdim=True)  # 1, or 0 for a zero embedding
        return {self.weight: (scaled ** 2 * (length - cos ** 2)).sum(1)}

    def ghost_sum(self, embedding: torch.Tensor, grad_logits: torch.Tensor,
                  factors: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        """Σ_i c_i · (sample i's gradient), from the rows above."""
        unit_w, unit_e, scaled, cos = self._ghost_terms(embedding, grad_logits)
        weighted = scaled * factors[:, None]
        return {self.weight: weighted.T @ unit_e - unit_w * (weighted * cos).sum(0)[:, None]}


def margin_logits(cosine: torch.Tensor, labels: torch.Tensor, kind: str, margin: float,
                  scale: float) -> torch.Tensor:
    """Scaled logits with the margin applied to each sample's target class."""
    if kind == "none" or margin == 0:
        return scale * cosine
    target = cosine.gather(1, labels[:, None])
    if kind == "arcface":
        theta = torch.acos(target.clamp(-1 + 1e-6, 1 - 1e-6))
        # Beyond θ = π − m, cos(θ + m) is no longer decreasing; use the CosFace-like linear extension.
        shifted = torch.where(theta + margin < math.pi, torch.cos(theta + margin),
                              target - margin * math.sin(margin))
    elif kind == "cosface":
        shifted = target - margin
    else:
        raise ValueError(f"margin kind {kind!r}; use one of {MARGIN_KINDS}")
    return scale * cosine.scatter(1, labels[:, None], shifted)


def margin_cross_entropy(head: CosineHead, embedding: torch.Tensor, labels: torch.Tensor, kind: str,
                         margin: float) -> torch.Tensor:
    return F.cross_entropy(margin_logits(head.cosine(embedding), labels, kind, margin, head.scale), labels)
