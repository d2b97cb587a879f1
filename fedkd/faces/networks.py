"""Build the teacher and student networks from their config sections."""

from __future__ import annotations

from typing import Any

from fedkd.faces.student_net import LRStudent
from fedkd.faces.teacher_net import ResNetFace


def build_teacher(cfg: dict[str, Any], in_channels: int, num_classes: int) -> ResNetFace:
    return ResNetFace(in_channels, num_classes, tuple(cfg["widths"]), cfg["blocks_per_stage"],
                      cfg["embedding_dim"], cfg["scale"])


def build_student(cfg: dict[str, Any], in_channels: int, num_classes: int, input_size: int,
                  embedding_dim: int) -> LRStudent:
    return LRStudent(in_channels, num_classes, input_size, tuple(cfg["widths"]), embedding_dim, cfg["scale"])
