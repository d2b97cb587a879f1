"""Everything a distillation schedule needs, in one object."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fedkd.distill.face_distiller import FaceDistiller
from fedkd.faces.schedules.method_settings import FaceMethodSettings
from fedkd.faces.teacher_settings import TeacherSettings
from fedkd.faces.training_loop import EmbedderTrainSettings
from fedkd.models.face_resnet import ResNetFace
from fedkd.models.lr_student import LRStudent

StateDict = dict[str, torch.Tensor]


@dataclass
class DistillationContext:
    student: LRStudent
    teacher: ResNetFace               # final pre-trained teacher, eval mode
    route: list[StateDict]            # teacher checkpoints along its training route, last = final
    distiller: FaceDistiller
    train_hr: torch.Tensor            # HR training faces (what the teacher sees)
    train_lr: torch.Tensor            # the same faces degraded to the student's resolution
    train_y: torch.Tensor
    method: FaceMethodSettings        # the method's settings (schedule parameters)
    student_train: EmbedderTrainSettings
    teacher_settings: TeacherSettings
    seed: int

    def lr_upsampled(self) -> torch.Tensor:
        """The LR faces resized back to the HR side (what an HR network sees of them)."""
        return F.interpolate(self.train_lr, size=self.train_hr.shape[-2:], mode="bicubic",
                             align_corners=False).clamp(0, 1)
