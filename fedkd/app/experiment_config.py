"""The federated experiment's root settings (`configs/config.yaml`, used by `fedkd-sim` and `flwr run .`)
and its schema: one field per section, each the settings class of the component that receives it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from omegaconf import MISSING
from torch import nn

from fedkd.app.simulation_settings import SimulationSettings
from fedkd.audit.settings import AuditSettings
from fedkd.checkpoint.settings import CheckpointSettings
from fedkd.config.fields import NOT_EMPTY, at_least, setting
from fedkd.config.schema import ExperimentSchema
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.federated import FederationSpec
from fedkd.data.lowres import LOWRES, LowResolution
from fedkd.data.partition import PARTITIONS, PartitionSettings
from fedkd.data.sources import DATASETS
from fedkd.faces.schedules import SCHEDULES
from fedkd.faces.teacher_settings import FACE_TEACHERS
from fedkd.methods.base import LocalMethod, MethodSettings
from fedkd.methods.registry import METHODS, MethodEntry
from fedkd.models.model_settings import ModelSettings, Shape
from fedkd.models.registry import MODELS
from fedkd.paths import DATA_CACHE, expand
from fedkd.privacy.dp_model import dp_compatible
from fedkd.privacy.registry import PRIVACY_MODES
from fedkd.privacy.settings import DPSettings, PrivacySettings
from fedkd.relations import check_federated
from fedkd.results.run_dir import OutputSettings
from fedkd.training.local import TrainSettings
from fedkd.workloads.registry import WORKLOADS
from fedkd.workloads.workload_settings import WorkloadSettings

RUN_NAME = "${dataset.name}-${strategy.name}-${partition.name}-${privacy.name}-s${seed}"


@dataclass
class FederatedConfig:
    seed: int = setting(0, at_least(0))
    num_rounds: int = setting(30, at_least(1))
    data_cache: str = setting(DATA_CACHE, NOT_EMPTY, help="generated data sets and resized user data are cached here")
    output: OutputSettings = field(default_factory=lambda: OutputSettings(name=RUN_NAME))
    dataset: DatasetSettings = MISSING
    lowres: LowResolution = MISSING
    partition: PartitionSettings = MISSING
    model: ModelSettings = MISSING
    workload: WorkloadSettings = MISSING
    strategy: MethodSettings = MISSING
    train: TrainSettings = field(default_factory=TrainSettings)
    simulation: SimulationSettings = field(default_factory=SimulationSettings)
    privacy: PrivacySettings = MISSING
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    resume: str | None = setting(None, NOT_EMPTY, help="an interrupted run's directory: continue it (fedkd-sim "
                                 "resume=DIR takes the run's own overrides; docs/reliability.md)")

    def federation(self) -> FederationSpec:
        return FederationSpec(self.dataset, self.partition, self.lowres, self.simulation.num_clients, self.seed,
                              expand(self.data_cache), self.simulation.evaluate_split, self.workload.holdout())

    def method(self) -> MethodEntry:
        return METHODS[self.strategy.name]

    def local_method(self) -> LocalMethod:
        """The client side of the configured method, with its settings and the local training settings."""
        return self.method().client(self.strategy, self.train, self.simulation.state_precision == "float16")

    def new_model(self, shape: Shape) -> nn.Module:
        """The configured model for data of `shape`; under differential privacy with GroupNorm for BatchNorm."""
        model = self.model.build(shape)
        if isinstance(self.privacy, DPSettings):
            return dp_compatible(model, self.privacy.norm_groups)
        return model


FEDERATED: ExperimentSchema[FederatedConfig] = ExperimentSchema(
    "config", FederatedConfig,
    (DATASETS, LOWRES, PARTITIONS, MODELS, WORKLOADS, METHODS, PRIVACY_MODES, FACE_TEACHERS, SCHEDULES),
    check_federated)


def load_federated(overrides: Sequence[str] = ()) -> FederatedConfig:
    """The checked federated config of `configs/config.yaml` with these Hydra overrides."""
    return FEDERATED.load(overrides)
