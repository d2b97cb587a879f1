"""The face-distillation experiment's root settings (`configs/faces.yaml`, used by `fedkd-faces`) and schema."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from omegaconf import MISSING

from fedkd.checkpoint.training_checkpoint import EpochCheckpointSettings
from fedkd.config.fields import NOT_EMPTY, above, at_least, each, setting
from fedkd.config.schema import ExperimentSchema
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.lowres import LOWRES, LowResolution
from fedkd.data.sources import DATASETS
from fedkd.faces.evaluation import FaceEvaluationSettings
from fedkd.faces.schedules import SCHEDULES, FaceMethodSettings
from fedkd.faces.teacher_settings import FACE_TEACHERS, TeacherSettings
from fedkd.faces.training_loop import EmbedderTrainSettings
from fedkd.models.lr_student import LRStudent
from fedkd.paths import DATA_CACHE
from fedkd.relations import check_faces
from fedkd.results.run_dir import OutputSettings


@dataclass
class StudentSettings:
    """The tiny depthwise-separable LR student; its embedding size is the teacher's, its input the LR side."""

    widths: list[int] = setting([24, 48, 96], NOT_EMPTY, each(above(0)), help="channels of each separable stage")
    scale: float = setting(16.0, above(0), help="s of the cosine head")
    train: EmbedderTrainSettings = field(default_factory=lambda: EmbedderTrainSettings(lr=0.003))

    def build(self, in_channels: int, num_classes: int, input_size: int, embedding_dim: int) -> LRStudent:
        return LRStudent(in_channels, num_classes, input_size, tuple(self.widths), embedding_dim, self.scale)


@dataclass
class FacesConfig:
    seed: int = setting(0, at_least(0), help="student seed (initialisation, batch order, LR noise)")
    data_cache: str = setting(DATA_CACHE, NOT_EMPTY)
    dataset: DatasetSettings = MISSING
    lowres: LowResolution = MISSING
    face_method: FaceMethodSettings = MISSING
    teacher: TeacherSettings = MISSING
    student: StudentSettings = field(default_factory=StudentSettings)
    evaluation: FaceEvaluationSettings = field(default_factory=FaceEvaluationSettings)
    output: OutputSettings = field(default_factory=lambda: OutputSettings(
        root="results/faces", name="${face_method.name}-lr${lowres.size}-s${seed}"))
    checkpoint: EpochCheckpointSettings = field(default_factory=EpochCheckpointSettings)
    resume: str | None = setting(None, NOT_EMPTY, help="an interrupted run's directory: continue it (fedkd-faces "
                                 "resume=DIR takes the run's own overrides; docs/reliability.md)")


FACES: ExperimentSchema[FacesConfig] = ExperimentSchema(
    "faces", FacesConfig, (DATASETS, LOWRES, FACE_TEACHERS, SCHEDULES), check_faces)


def load_faces(overrides: Sequence[str] = ()) -> FacesConfig:
    """The checked face-distillation config of `configs/faces.yaml` with these Hydra overrides."""
    return FACES.load(overrides)
