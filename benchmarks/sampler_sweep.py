"""Sampler settings for a trained score model: annealed HMC (step, leapfrog steps, friction) and
annealed Langevin (step) at the same score evaluations per sample.

Usage: python benchmarks/sampler_sweep.py RUN_DIR [--samples 500] [key=value ...]

RUN_DIR is a finished `fedkd-gen` score-model run (its config.yaml and generator.pt are read); extra
key=value overrides change the sampler base config. The selection metric is the Fréchet distance to
the *training* split in the evaluator's features, so the held-out test split plays no part in choosing
sampler settings (for a DP run, that choice itself looks at private data: tune on public data instead).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch
import yaml

from fedkd.paths import expand
from private_gen.data import load_generation_data
from private_gen.experiment import build_score_net
from private_gen.metrics.evaluator import evaluator_frechet, load_or_train_evaluator
from private_gen.sampling import balanced_labels, sample_score_model

LANGEVIN_STEPS = (2e-5, 5e-5, 1e-4, 2e-4)
HMC_GRID = list(itertools.product((1e-5, 2e-5, 5e-5), (1, 3, 5), (0.5, 1.0, 2.0, 100.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--evals-per-level", type=int, default=31)
    args = parser.parse_args()
    config = yaml.safe_load((args.run / "config.yaml").read_text())
    data = load_generation_data(config["dataset"], config["data"], config["data_cache"])
    num_classes = data.num_classes if config["data"]["class_conditional"] else 0
    net = build_score_net(config["generator"], data.shape[0], num_classes)
    net.load_state_dict(torch.load(args.run / "generator.pt", weights_only=True))
    ev = config["evaluation"]
    evaluator = load_or_train_evaluator(data.train_x, data.train_y, data.num_classes, ev["evaluator_epochs"],
                                        ev["evaluator_seed"], expand(config["data_cache"]))
    labels = balanced_labels(args.samples, data.num_classes)
    base = {"evals_per_level": args.evals_per_level, "denoise": True, "batch_size": 500}

    def score(sampler: dict) -> tuple[float, int]:
        result = sample_score_model(net, labels, data.shape, sampler, config["seed"] + 7)
        return evaluator_frechet(evaluator, result.samples, data.train_x), result.score_evaluations

    print("| sampler | step α_L | leapfrog L | friction | FD to training split | score evals |")
    print("|---|---:|---:|---:|---:|---:|")
    for step in LANGEVIN_STEPS:
        fd, evals = score(base | {"name": "langevin", "step_size": step})
        print(f"| langevin | {step:g} | – | – | {fd:.2f} | {evals} |", flush=True)
    for step, leapfrog, friction in HMC_GRID:
        fd, evals = score(base | {"name": "hmc", "step_size": step, "leapfrog_steps": leapfrog, "friction": friction,
                                  "step_jitter": 0.5})
        print(f"| hmc | {step:g} | {leapfrog} | {friction:g} | {fd:.2f} | {evals} |", flush=True)


if __name__ == "__main__":
    main()
