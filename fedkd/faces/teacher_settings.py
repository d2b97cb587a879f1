"""The HR face teacher's settings (`face_teacher=resnet`): its architecture and how it is trained once."""

from __future__ import annotations

from dataclasses import dataclass, field

from fedkd.config.fields import NOT_EMPTY, above, at_least, each, setting
from fedkd.config.registry import Registry
from fedkd.faces.training_loop import EmbedderTrainSettings
from fedkd.models.face_resnet import ResNetFace


@dataclass
class TeacherSettings:
    """ResNet-style HR teacher (fedkd/models/face_resnet.py), trained once and cached."""

    widths: list[int] = setting([16, 32, 64, 128], NOT_EMPTY, each(above(0)), help="channels of each stage")
    blocks_per_stage: int = setting(1, at_least(1))
    embedding_dim: int = setting(128, at_least(2), help="the students use the same embedding size")
    scale: float = setting(16.0, above(0), help="s of the cosine head")
    route_anchors: int = setting(4, at_least(1), help="checkpoints kept along the training route (RCO)")
    seed: int = setting(0, at_least(0))
    train: EmbedderTrainSettings = field(default_factory=EmbedderTrainSettings)

    def build(self, in_channels: int, num_classes: int) -> ResNetFace:
        return ResNetFace(in_channels, num_classes, tuple(self.widths), self.blocks_per_stage, self.embedding_dim,
                          self.scale)


FACE_TEACHERS: Registry[TeacherSettings] = Registry("face_teacher")
FACE_TEACHERS.add("resnet", TeacherSettings())
