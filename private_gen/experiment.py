"""One private-generation experiment: load data, train the generator under the chosen privacy mechanism,
sample, evaluate, and fill the run directory (history.jsonl, privacy.json, samples.png/.pt, generator.pt)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from fedkd.audit.report import audit_lines
from fedkd.checkpoint.training_run import write_checkpointed_run
from fedkd.paths import expand
from fedkd.results.run_dir import RunDirectory
from private_gen.audit import AuditedTraining, PlantedGradients, generator_audit, with_canaries
from private_gen.config import GenConfig
from private_gen.data import GenerationData, load_generation_data
from private_gen.device import resolve_device
from private_gen.evaluation import evaluate
from private_gen.generators import GENERATORS
from private_gen.metrics.acceptance_plot import save_acceptance
from private_gen.metrics.grid import save_grid
from private_gen.pretraining import Pretraining
from private_gen.report import headline, privacy_line
from private_gen.sampling import balanced_labels, sample_score_model
from private_gen.score_model import ScoreModelSettings

SAMPLE_SEED_OFFSET = 7


def load_data(config: GenConfig) -> GenerationData:
    return load_generation_data(config.dataset, config.data, expand(config.data_cache))


def conditioning_classes(config: GenConfig, data: GenerationData) -> int:
    return data.num_classes if config.data.class_conditional else 0


def generate(config: GenConfig, data: GenerationData) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Train and sample; returns synthetic images, their labels and the run's record (times, privacy, history)."""
    entry = GENERATORS[config.generator.name]
    labels = balanced_labels(config.evaluation.num_samples, data.num_classes)
    started = time.perf_counter()
    pretraining = Pretraining(config.pretrain, config.dataset, expand(config.data_cache))
    audit = config.audit
    private = with_canaries(data, audit) if audit.enabled and audit.canary == "input" else data
    planted = AuditedTraining(audit) if audit.enabled else None
    if audit.enabled and audit.canary == "gradient":
        norm = getattr(config.gen_privacy, "max_grad_norm", audit.canary_norm)
        planted = PlantedGradients(audit, config.generator.build(data.shape, conditioning_classes(config, data)),
                                   norm, config.seed)
    net, history, record = entry.train(config.generator, config.gen_privacy, private,
                                       conditioning_classes(config, data), config.seed, pretraining,
                                       resolve_device(config.device), planted)
    train_seconds = time.perf_counter() - started
    result = entry.sample(net, config.generator, labels, data.shape, config.sampler, config.seed + SAMPLE_SEED_OFFSET)
    sample_seconds = time.perf_counter() - started - train_seconds
    return result.samples, labels, {"privacy": record, "history": history, "model": net,
                                    "train_seconds": train_seconds, "sample_seconds": sample_seconds,
                                    "score_evaluations_per_sample": result.score_evaluations,
                                    "metropolis_acceptance": result.acceptance, "planted": planted}


def _quality(config: GenConfig, data: GenerationData, samples: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    return evaluate(config.evaluation, data, samples, labels, config.data.class_conditional, config.seed,
                    expand(config.data_cache), resolve_device(config.device))


def _method(config: GenConfig) -> str:
    objective = getattr(config.generator, "objective", None)
    return config.generator.name + (f" ({objective.kind})" if objective is not None else "")


def train_sample_evaluate(config: GenConfig, data: GenerationData, run: RunDirectory) -> tuple[Mapping[str, Any], str]:
    samples, labels, record = generate(config, data)
    summary = _quality(config, data, samples, labels) | {
        "train_seconds": record["train_seconds"], "sample_seconds": record["sample_seconds"],
        "score_evaluations_per_sample": record["score_evaluations_per_sample"],
        "metropolis_acceptance": record["metropolis_acceptance"],
        "train_images": len(data.train_x), "test_images": len(data.test_x), "privacy": record["privacy"]}
    run.write_jsonl("history.jsonl", record["history"])
    run.write_json("privacy.json", summary["privacy"])
    if config.audit.enabled:
        report = generator_audit(config.audit, record["model"], data, summary["privacy"], _method(config),
                                 record["planted"])
        run.write_json("audit.json", report)
        summary["audit"] = audit_lines(report)
    save_grid(samples, labels, config.evaluation.grid_per_class, run.path / "samples.png",
              f"{_method(config)} on {config.dataset.name}: {privacy_line(summary['privacy'])}")
    if record["metropolis_acceptance"]:
        save_acceptance(record["metropolis_acceptance"], record["model"].sigmas.tolist(), run.path / "acceptance",
                        f"{_method(config)}, {config.generator.parameterization}, on {config.dataset.name}")
    torch.save({"images": samples.mul(255).round().to(torch.uint8), "labels": labels}, run.path / "samples.pt")
    torch.save({k: v.cpu() for k, v in record["model"].state_dict().items()}, run.path / "generator.pt")
    text = "\n".join([headline(summary), privacy_line(summary["privacy"]), *summary.get("audit", [])])
    print(text)
    return summary, f"```\n{text}\n```"


def run_generation(config: GenConfig, root: Path | None = None) -> Path:
    """Load the data, then train, sample and evaluate into a new run directory under `root` (default
    `output.root`), or on in the interrupted run `config.resume` names."""
    data = load_data(config)
    return write_checkpointed_run(config, "fedkd-gen", lambda run: train_sample_evaluate(config, data, run), root)


def trained_score_model(config: GenConfig, data: GenerationData, run_dir: Path) -> torch.nn.Module:
    """The score model a finished run saved (`generator.pt`), built from `config`, on `config.device`."""
    if not isinstance(config.generator, ScoreModelSettings):
        raise ValueError("a trained score model needs a score-model run (generator=score_ssm)")
    net = config.generator.build(data.shape, conditioning_classes(config, data))
    net.load_state_dict(torch.load(run_dir / "generator.pt", weights_only=True, map_location="cpu"))
    return net.to(resolve_device(config.device))


def resample(config: GenConfig, run_dir: Path) -> dict[str, Any]:
    """Sample a finished score-model run again with `config.sampler` and evaluate: the sampler ablation needs
    no retraining. Training time and privacy record are the original run's."""
    data = load_data(config)
    net = trained_score_model(config, data, run_dir)
    original = json.loads((run_dir / "summary.json").read_text())
    labels = balanced_labels(config.evaluation.num_samples, data.num_classes)
    started = time.perf_counter()
    result = sample_score_model(net, labels, data.shape, config.sampler, config.seed + SAMPLE_SEED_OFFSET)
    return _quality(config, data, result.samples, labels) | {
        "train_seconds": original["train_seconds"], "sample_seconds": time.perf_counter() - started,
        "score_evaluations_per_sample": result.score_evaluations, "metropolis_acceptance": result.acceptance,
        "privacy": original["privacy"]}
