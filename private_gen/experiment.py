"""One private-generation experiment: load data, train the generator under the chosen privacy mechanism,
sample, evaluate, and write the run directory (staged under `<dir>.incomplete`, then renamed)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from fedkd.paths import expand
from private_gen.data import GenerationData, load_generation_data
from private_gen.dp_merf import train_dp_merf
from private_gen.metrics.classifiers import synthetic_to_real_accuracy
from private_gen.metrics.evaluator import evaluator_accuracy, evaluator_frechet, load_or_train_evaluator
from private_gen.metrics.grid import save_grid
from private_gen.noise_levels import geometric_sigmas
from private_gen.privacy.dp_sgd import train_ssm_dp_sgd
from private_gen.privacy.projection_perturbation import GUARANTEE, ProjectionPerturbation
from private_gen.report import headline, privacy_line
from private_gen.sampling import balanced_labels, sample_score_model
from private_gen.score_net import ScoreNet
from private_gen.training import SSMSettings, train_ssm


def build_score_net(generator: dict[str, Any], channels: int, num_classes: int) -> ScoreNet:
    noise = generator["noise"]
    sigmas = geometric_sigmas(noise["sigma_max"], noise["sigma_min"], noise["num_levels"])
    return ScoreNet(channels, sigmas, num_classes=num_classes, **generator["network"])


def _train_score(config: dict[str, Any], data: GenerationData, num_classes: int
                 ) -> tuple[ScoreNet, list[dict[str, float]], dict[str, Any]]:
    generator, privacy, seed = config["generator"], config["gen_privacy"], config["seed"]
    torch.manual_seed(seed)
    model = build_score_net(generator, data.shape[0], num_classes)
    settings = SSMSettings.from_config(generator)
    if privacy["mechanism"] == "dp":
        ema, history, report = train_ssm_dp_sgd(model, data.train_x, data.train_y, settings, privacy, seed)
        return ema, history, report.as_dict()
    if privacy["mechanism"] == "projection_perturbation":
        hook = ProjectionPerturbation(privacy["clip"], privacy["noise_multiplier"])
        ema, history = train_ssm(model, data.train_x, data.train_y, settings, seed, perturb=hook)
        return ema, history, {"mechanism": "projection perturbation (Liu et al. 2023, as built here)",
                              "epsilon": None, "guarantee": GUARANTEE, "clip": privacy["clip"],
                              "noise_multiplier": privacy["noise_multiplier"]}
    ema, history = train_ssm(model, data.train_x, data.train_y, settings, seed)
    return ema, history, {"mechanism": "none", "epsilon": None, "guarantee": "none (non-private)"}


def generate(config: dict[str, Any], data: GenerationData) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Train and sample; returns synthetic images, their labels and the run's record (times, privacy, history)."""
    conditional = config["data"]["class_conditional"]
    num_classes = data.num_classes if conditional else 0
    labels = balanced_labels(config["evaluation"]["num_samples"], data.num_classes)
    generator, seed = config["generator"], config["seed"]
    started = time.perf_counter()
    if generator["kind"] == "dp_merf":
        net, history, record = train_dp_merf(data.train_x, data.train_y, data.num_classes, generator,
                                             config["gen_privacy"], seed)
        train_seconds = time.perf_counter() - started
        with torch.no_grad():
            samples = net.eval().sample(labels, torch.Generator().manual_seed(seed + 7))
        evaluations = None
    else:
        net, history, record = _train_score(config, data, num_classes)
        train_seconds = time.perf_counter() - started
        result = sample_score_model(net, labels, data.shape, config["sampler"], seed + 7,
                                    progress=generator["train"]["progress"])
        samples, evaluations = result.samples, result.score_evaluations
    sample_seconds = time.perf_counter() - started - train_seconds
    return samples, labels, {"privacy": record, "history": history, "model": net, "train_seconds": train_seconds,
                             "sample_seconds": sample_seconds, "score_evaluations_per_sample": evaluations}


def evaluate(config: dict[str, Any], data: GenerationData, samples: torch.Tensor, labels: torch.Tensor
             ) -> dict[str, float]:
    """Fréchet distance in the evaluator's features; synthetic-to-real accuracies when labels mean classes."""
    ev, seed = config["evaluation"], config["seed"]
    evaluator = load_or_train_evaluator(data.train_x, data.train_y, data.num_classes, ev["evaluator_epochs"],
                                        ev["evaluator_seed"], expand(config["data_cache"]))
    metrics = {"frechet_distance": evaluator_frechet(evaluator, samples, data.test_x),
               "evaluator_real_test_accuracy": evaluator_accuracy(evaluator, data.test_x, data.test_y)}
    if config["data"]["class_conditional"]:
        metrics |= synthetic_to_real_accuracy(samples, labels, data.test_x, data.test_y, data.num_classes,
                                              ev["classifier_epochs"], ev["logreg_max_iter"], seed)
    return metrics


def run_generation(config: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    data = load_generation_data(config["dataset"], config["data"], config["data_cache"])
    samples, labels, record = generate(config, data)
    metrics = evaluate(config, data, samples, labels) | {
        "train_seconds": record["train_seconds"], "sample_seconds": record["sample_seconds"],
        "score_evaluations_per_sample": record["score_evaluations_per_sample"],
        "train_images": len(data.train_x), "test_images": len(data.test_x), "privacy": record["privacy"]}
    _write(out_dir, config, record, metrics, samples, labels)
    return metrics


def resample(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Sample a finished score-model run again with `config["sampler"]` and evaluate: the sampler
    ablation needs no retraining. Training time and privacy record are the original run's."""
    data = load_generation_data(config["dataset"], config["data"], config["data_cache"])
    num_classes = data.num_classes if config["data"]["class_conditional"] else 0
    net = build_score_net(config["generator"], data.shape[0], num_classes)
    net.load_state_dict(torch.load(run_dir / "generator.pt", weights_only=True))
    original = json.loads((run_dir / "metrics.json").read_text())
    labels = balanced_labels(config["evaluation"]["num_samples"], data.num_classes)
    started = time.perf_counter()
    result = sample_score_model(net, labels, data.shape, config["sampler"], config["seed"] + 7)
    return evaluate(config, data, result.samples, labels) | {
        "train_seconds": original["train_seconds"], "sample_seconds": time.perf_counter() - started,
        "score_evaluations_per_sample": result.score_evaluations, "privacy": original["privacy"]}


def _write(out_dir: Path, config: dict[str, Any], record: dict[str, Any], metrics: dict[str, Any],
           samples: torch.Tensor, labels: torch.Tensor) -> None:
    staging = out_dir.with_name(out_dir.name + ".incomplete")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with open(staging / "history.jsonl", "w") as fh:
        for row in record["history"]:
            fh.write(json.dumps(row) + "\n")
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (staging / "privacy.json").write_text(json.dumps(metrics["privacy"], indent=2))
    (staging / "summary.md").write_text(f"```\n{headline(metrics)}\n{privacy_line(metrics['privacy'])}\n```\n")
    save_grid(samples, labels, config["evaluation"]["grid_per_class"], staging / "samples.png",
              f"{config['generator']['name']} on {config['dataset']['name']}: {privacy_line(metrics['privacy'])}")
    torch.save({"images": samples.mul(255).round().to(torch.uint8), "labels": labels}, staging / "samples.pt")
    torch.save(record["model"].state_dict(), staging / "generator.pt")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
