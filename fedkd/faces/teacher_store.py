"""Train the HR teacher once and cache it, with the checkpoints of its training route.

The cache file is keyed by everything that determines the teacher (data set, identity split, teacher
config, seed), written atomically, and reused by every later run, student and client.
Route checkpoints (for route-constrained distillation) are taken at `route_anchors` evenly spaced epochs,
the last one being the final teacher.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from fedkd.data.dataset_settings import DatasetSettings
from fedkd.faces.face_split import FaceSplit
from fedkd.faces.teacher_settings import TeacherSettings
from fedkd.faces.training_loop import train_embedder
from fedkd.models.face_resnet import ResNetFace

StateDict = dict[str, torch.Tensor]


def teacher_cache_path(cache_dir: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_dir / f"face-teacher-{digest}.pt"


def teacher_data_key(dataset: DatasetSettings, eval_identities: int, split_seed: int) -> dict[str, Any]:
    """What determines the teacher's training data: the face set and its identity split."""
    return {"dataset": asdict(dataset), "evaluation": {"eval_identities": eval_identities, "split_seed": split_seed}}


def teacher_recipe(settings: TeacherSettings, data_key: dict[str, Any]) -> dict[str, Any]:
    """Everything that determines the teacher's weights (not its progress display)."""
    recipe = asdict(settings)
    recipe["train"].pop("progress")
    return {"data": data_key, "teacher": recipe, "seed": settings.seed}


def _anchor_epochs(epochs: int, anchors: int) -> set[int]:
    return {max(1, round(epochs * k / anchors)) for k in range(1, anchors + 1)}


class Route:
    """The teacher's weights at its anchor epochs, checkpointed with the teacher's training."""

    def __init__(self) -> None:
        self.anchors: list[StateDict] = []

    def state_dict(self) -> list[StateDict]:
        return list(self.anchors)

    def load_state_dict(self, anchors: list[StateDict]) -> None:
        self.anchors = list(anchors)


def train_teacher(split: FaceSplit, settings: TeacherSettings) -> tuple[ResNetFace, list[StateDict]]:
    seed = settings.seed
    torch.manual_seed(seed)
    teacher = settings.build(split.train_hr.shape[1], split.num_train_identities)
    route = Route()
    anchors = _anchor_epochs(settings.train.epochs, settings.route_anchors)

    def keep_anchor(epoch: int) -> None:
        if epoch in anchors:
            route.anchors.append({k: v.detach().clone() for k, v in teacher.state_dict().items()})

    train_embedder(teacher, split.train_hr, split.train_y, settings.train, seed, desc="teacher",
                   on_epoch_end=keep_anchor, checkpoint_parts={"route": route})
    return teacher, route.anchors


def load_or_train_teacher(split: FaceSplit, settings: TeacherSettings, cache_dir: Path,
                          data_key: dict[str, Any]) -> tuple[ResNetFace, list[StateDict], Path]:
    """The cached teacher (eval mode) and its route; trains and stores it on first use."""
    path = teacher_cache_path(cache_dir, teacher_recipe(settings, data_key))
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        teacher = settings.build(split.train_hr.shape[1], split.num_train_identities)
        teacher.load_state_dict(saved["route"][-1])
        return teacher.eval(), saved["route"], path
    teacher, route = train_teacher(split, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.pt")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"route": route}, fh)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return teacher.eval(), route, path
