"""Distillation losses between a student and a frozen teacher, one module per loss.

Every loss takes the student's and the teacher's `Outputs` (embedding and logits of the same batch)
and returns a scalar; `build_kd_loss` selects one by the config's `kd_form`.
"""

from __future__ import annotations

from torch import nn

from fedkd.distill.embedding_kd import CosineEmbeddingKD
from fedkd.distill.logit_kd import LogitKD
from fedkd.distill.outputs import Outputs, forward_outputs
from fedkd.distill.relational_kd import DistanceRelationKD

KD_FORMS = ("logits", "embedding_cosine", "relational")


def build_kd_loss(form: str, temperature: float) -> nn.Module:
    if form == "logits":
        return LogitKD(temperature)
    if form == "embedding_cosine":
        return CosineEmbeddingKD()
    if form == "relational":
        return DistanceRelationKD()
    raise ValueError(f"unknown kd_form {form!r}; use one of {KD_FORMS}")


__all__ = ["KD_FORMS", "Outputs", "build_kd_loss", "forward_outputs"]
