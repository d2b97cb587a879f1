"""The LR face student as a federated client workload: distillation from a frozen HR teacher.

The teacher is the one `fedkd-faces` trains (same recipe, same identity split of the same face set),
built once by the ServerApp before the first round and cached; every client process loads it once
from that cache and keeps it frozen. Each client computes the teacher's outputs on the HR versions of
its own training faces once, and adds the configured distiller's terms (named `face_<term>`) to
whatever objective the FL method uses (FedAvg's CE, FedCKD's CE + KD from its two teachers, ...).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import torch
from hydra.utils import instantiate

from fedkd.data.federated import ClientData, load_image_data
from fedkd.distill.face_distiller import FaceDistiller
from fedkd.distill.outputs import Outputs
from fedkd.errors import UserError
from fedkd.faces.face_split import split_identities
from fedkd.faces.networks import build_teacher
from fedkd.faces.teacher_net import ResNetFace
from fedkd.faces.teacher_store import load_or_train_teacher, teacher_cache_path, teacher_data_key, teacher_recipe
from fedkd.faces.training_loop import precompute_outputs
from fedkd.paths import expand
from fedkd.training.local import ExtraTerms

FACE_TERMS = ("kd_logits", "kd_feature", "kd_selective", "kd_instance", "kd_correlation", "kd_distance", "kd_angle",
              "kd_mutual_relation", "kd_relation", "kd_contrastive")


def face_loss_columns(config: dict[str, Any]) -> tuple[str, ...]:
    """The per-client CSV columns of the face-distillation terms (none for the classifier workload)."""
    return tuple(f"loss_face_{t}" for t in FACE_TERMS) if uses_face_workload(config) else ()


def uses_face_workload(config: dict[str, Any]) -> bool:
    return config["workload"]["name"] == "face_kd"


def adapts_batchnorm(config: dict[str, Any]) -> bool:
    """Whether clients re-estimate BN statistics on their own (LR) test faces before evaluating."""
    return uses_face_workload(config) and bool(config["workload"]["method"]["adabn"])


def _teacher_inputs(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    workload = config["workload"]
    return workload["teacher"], teacher_data_key(config["dataset"], workload["eval_identities"], workload["split_seed"])


def ensure_teacher(config: dict[str, Any]) -> None:
    """Train and cache the teacher if it is not cached yet (the ServerApp calls this before round 1)."""
    teacher_cfg, data_key = _teacher_inputs(config)
    data = load_image_data(config["dataset"], config["data_cache"])
    split = split_identities(data, config["workload"]["eval_identities"], config["workload"]["split_seed"])
    load_or_train_teacher(split, teacher_cfg, expand(config["data_cache"]), data_key)


@lru_cache(maxsize=4)
def _load_teacher(config_json: str) -> ResNetFace:
    config = json.loads(config_json)
    teacher_cfg, data_key = _teacher_inputs(config)
    path = teacher_cache_path(expand(config["data_cache"]), teacher_recipe(teacher_cfg, data_key))
    if not path.is_file():
        raise UserError(f"the face teacher checkpoint {path} is missing; it is built by the ServerApp before "
                        "round 1 (in a deployment, copy it to the same path on every SuperNode)")
    route = torch.load(path, weights_only=True)["route"]
    classes = route[-1]["head.weight"].shape[0]
    teacher = build_teacher(teacher_cfg, int(route[-1]["stem.0.weight"].shape[1]), classes)
    teacher.load_state_dict(route[-1])
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def teacher_for(config: dict[str, Any]) -> ResNetFace:
    return _load_teacher(json.dumps({k: config[k] for k in ("dataset", "workload", "data_cache")}, sort_keys=True))


def face_distillation_terms(teacher_outputs: Outputs, distiller: FaceDistiller) -> ExtraTerms:
    """Extra loss terms: the distiller between the student on LR faces and the teacher on their HR versions."""

    def terms(student: Outputs, y: torch.Tensor, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        teacher = Outputs(teacher_outputs.embedding[rows], teacher_outputs.logits[rows])
        return {f"face_{name}": value for name, value in distiller(student, teacher, y).items()}

    return terms


def client_extra_terms(config: dict[str, Any], data: ClientData) -> ExtraTerms | None:
    """The face-distillation terms of this client, or None for the plain classifier workload."""
    if not uses_face_workload(config):
        return None
    teacher_outputs = precompute_outputs(teacher_for(config), data.train_hr)
    distiller: FaceDistiller = instantiate(config["workload"]["method"]["distiller"])
    distiller.prepare(teacher_outputs.embedding, data.train_y)
    return face_distillation_terms(teacher_outputs, distiller)
