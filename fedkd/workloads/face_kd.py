"""The LR face student as a federated client workload: distillation from a frozen HR teacher.

The teacher is the one `fedkd-faces` trains (same recipe, same identity split of the same face set),
built once by the ServerApp before the first round and cached; every client process loads it once
from that cache and keeps it frozen. Each client computes the teacher's outputs on the HR versions of
its own training faces once, and adds the configured distiller's terms (named `face_<term>`) to
whatever objective the FL method uses (FedAvg's CE, FedCKD's CE + KD from its two teachers, ...).

The teacher's held-out identities are also removed from every client's data; every evaluation round scores
the global model (at the server) and each client's personal model (at the client) by 10-fold verification
accuracy and TAR@FAR on them (fedkd/faces/protocols/verification.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import MISSING
from torch import nn

from fedkd.config.fields import above, at_least, below, setting
from fedkd.data.federated import ClientData, FederationSpec, held_out_faces
from fedkd.data.holdout import IdentityHoldout
from fedkd.data.sources import load_image_data
from fedkd.distill.face_distiller import FaceDistiller
from fedkd.distill.outputs import Outputs
from fedkd.errors import UserError
from fedkd.faces.evaluation import embed
from fedkd.faces.face_split import split_identities
from fedkd.faces.protocols.verification import verify
from fedkd.faces.schedules.method_settings import FaceMethodSettings
from fedkd.faces.teacher_settings import TeacherSettings
from fedkd.faces.teacher_store import load_or_train_teacher, teacher_cache_path, teacher_data_key, teacher_recipe
from fedkd.faces.training_loop import precompute_outputs
from fedkd.methods.base import frozen
from fedkd.models.face_resnet import ResNetFace
from fedkd.training.local import ExtraTerms
from fedkd.workloads.workload_settings import WorkloadSettings

TERM_PREFIX = "face_"


@dataclass
class FaceKDWorkload(WorkloadSettings):
    """`workload=face_kd` (with `face_method@workload.method=<preset>`, schedule `standard` only)."""

    name: str = "face_kd"
    preparation = "the HR face teacher (trained once, then cached)"
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    method: FaceMethodSettings = MISSING
    eval_identities: int = setting(50, at_least(2), help="identities held out of the teacher's training (as in "
                                   "fedkd-faces)")
    split_seed: int = setting(0, at_least(0))
    verification_pairs: int = setting(3000, at_least(20), help="balanced pairs of held-out faces for the 10-fold "
                                      "verification accuracy of every evaluation round")
    verification_far: float = setting(0.001, above(0), below(1), help="FAR of the TAR@FAR of every evaluation "
                                      "round (ROC over all pairs of the held-out faces)")

    def distiller_class(self) -> type[FaceDistiller]:
        return get_class(self.method.distiller["_target_"])

    def loss_terms(self) -> tuple[str, ...]:
        return tuple(f"{TERM_PREFIX}{term}" for term in self.distiller_class().terms)

    @property
    def adapts_batchnorm(self) -> bool:
        return self.method.adabn

    def holdout(self) -> IdentityHoldout:
        return IdentityHoldout(self.eval_identities, self.split_seed)

    def score_keys(self) -> tuple[str, ...]:
        return VERIFICATION_KEYS

    def score(self, spec: FederationSpec, model: nn.Module) -> dict[str, float]:
        """10-fold verification accuracy and TAR@FAR on the held-out identities (unseen by clients and teacher)."""
        faces, labels = _held_out(spec)
        result = verify(embed(model, faces), labels, self.verification_pairs, self.split_seed,
                        (self.verification_far,))
        return {VERIFICATION_KEYS[0]: result.accuracy, VERIFICATION_KEYS[1]: result.tar[self.verification_far]}

    def data_key(self, spec: FederationSpec) -> dict:
        return teacher_data_key(spec.dataset, self.eval_identities, self.split_seed)

    def prepare_server(self, spec: FederationSpec) -> None:
        """Train and cache the teacher if it is not cached yet (the ServerApp calls this before round 1)."""
        data = load_image_data(spec.dataset, spec.cache_dir)
        split = split_identities(data, self.eval_identities, self.split_seed)
        load_or_train_teacher(split, self.teacher, spec.cache_dir, self.data_key(spec))

    def client_terms(self, spec: FederationSpec, data: ClientData) -> ExtraTerms:
        teacher_outputs = precompute_outputs(self.load_teacher(spec), data.train_hr)
        distiller: FaceDistiller = instantiate(self.method.distiller)
        distiller.prepare(teacher_outputs.embedding, data.train_y)
        return face_distillation_terms(teacher_outputs, distiller)

    def load_teacher(self, spec: FederationSpec) -> ResNetFace:
        """The cached teacher, frozen; read once per process (its file name is the hash of its recipe)."""
        path = teacher_cache_path(spec.cache_dir, teacher_recipe(self.teacher, self.data_key(spec)))
        if path not in _LOADED_TEACHERS:
            _LOADED_TEACHERS[path] = _read_teacher(path, self.teacher)
        return _LOADED_TEACHERS[path]


_LOADED_TEACHERS: dict[Path, ResNetFace] = {}
_HELD_OUT: dict[str, tuple[torch.Tensor, np.ndarray]] = {}
VERIFICATION_KEYS = ("verification_accuracy", "verification_tar")


def _held_out(spec: FederationSpec) -> tuple[torch.Tensor, np.ndarray]:
    """The held-out faces of this federation, read once per process."""
    key = spec.key()
    if key not in _HELD_OUT:
        _HELD_OUT.clear()
        _HELD_OUT[key] = held_out_faces(spec)
    return _HELD_OUT[key]


def _read_teacher(path: Path, settings: TeacherSettings) -> ResNetFace:
    if not path.is_file():
        raise UserError(f"the face teacher checkpoint {path} is missing; it is built by the ServerApp before "
                        "round 1 (in a deployment, copy it to the same path on every SuperNode)")
    route = torch.load(path, weights_only=True)["route"]
    teacher = settings.build(int(route[-1]["stem.0.weight"].shape[1]), route[-1]["head.weight"].shape[0])
    teacher.load_state_dict(route[-1])
    return frozen(teacher)


def face_distillation_terms(teacher_outputs: Outputs, distiller: FaceDistiller) -> ExtraTerms:
    """Extra loss terms: the distiller between the student on LR faces and the teacher on their HR versions."""

    def terms(student: Outputs, y: torch.Tensor, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        teacher = Outputs(teacher_outputs.embedding[rows], teacher_outputs.logits[rows])
        return {f"{TERM_PREFIX}{name}": value for name, value in distiller(student, teacher, y).items()}

    return terms
