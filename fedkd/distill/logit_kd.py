"""Logit distillation (Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", 2015)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedkd.distill.outputs import Outputs


class LogitKD(nn.Module):
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over the batch.

    The T² factor keeps the gradient scale independent of T (Hinton et al., §2).
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, student: Outputs, teacher: Outputs) -> torch.Tensor:
        return self.per_sample(student, teacher).mean()

    def per_sample(self, student: Outputs, teacher: Outputs) -> torch.Tensor:
        """The loss of each row, shape [batch]."""
        t = self.temperature
        log_p_student = F.log_softmax(student.logits / t, dim=1)
        log_p_teacher = F.log_softmax(teacher.logits / t, dim=1)
        return t * t * F.kl_div(log_p_student, log_p_teacher, reduction="none", log_target=True).sum(1)
