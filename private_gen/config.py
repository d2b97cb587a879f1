"""The private-generation experiment's root settings (`configs/gen.yaml`, used by `fedkd-gen`) and schema."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from omegaconf import MISSING

from fedkd.checkpoint.training_checkpoint import EpochCheckpointSettings
from fedkd.config.fields import NOT_EMPTY, at_least, one_of, setting
from fedkd.config.schema import ExperimentSchema
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.sources import DATASETS
from fedkd.paths import DATA_CACHE
from fedkd.relations import check_generation
from fedkd.results.run_dir import OutputSettings
from private_gen.audit import GenAuditSettings
from private_gen.data import GenDataSettings
from private_gen.device import DEVICES
from private_gen.evaluation import GenEvaluationSettings
from private_gen.generator_settings import GeneratorSettings
from private_gen.generators import GENERATORS
from private_gen.pretraining import PRETRAIN, PretrainSettings
from private_gen.privacy.registry import GEN_PRIVACY
from private_gen.privacy.settings import GenPrivacySettings
from private_gen.samplers import SAMPLERS, SamplerSettings


@dataclass
class GenConfig:
    seed: int = setting(0, at_least(0))
    device: str = setting("auto", one_of(DEVICES), help="score model, samplers and metric networks: auto (CUDA when "
                          "visible, else CPU), cpu or cuda; DP-MERF always trains on the CPU")
    data_cache: str = setting(DATA_CACHE, NOT_EMPTY)
    dataset: DatasetSettings = MISSING
    generator: GeneratorSettings = MISSING
    gen_privacy: GenPrivacySettings = MISSING
    sampler: SamplerSettings = MISSING
    pretrain: PretrainSettings = MISSING
    data: GenDataSettings = field(default_factory=GenDataSettings)
    evaluation: GenEvaluationSettings = field(default_factory=GenEvaluationSettings)
    output: OutputSettings = field(default_factory=lambda: OutputSettings(
        root="results/gen", name="${generator.name}-${gen_privacy.name}-${dataset.name}-s${seed}"))
    checkpoint: EpochCheckpointSettings = field(default_factory=EpochCheckpointSettings)
    audit: GenAuditSettings = field(default_factory=GenAuditSettings)
    resume: str | None = setting(None, NOT_EMPTY, help="an interrupted run's directory: continue it (fedkd-gen "
                                 "resume=DIR takes the run's own overrides; docs/reliability.md)")


GENERATION: ExperimentSchema[GenConfig] = ExperimentSchema(
    "gen", GenConfig, (DATASETS, GENERATORS, GEN_PRIVACY, SAMPLERS, PRETRAIN), check_generation)


def load_generation(overrides: Sequence[str] = ()) -> GenConfig:
    """The checked generation config of `configs/gen.yaml` with these Hydra overrides."""
    return GENERATION.load(overrides)
