"""Sampler settings for a trained score model: annealed HMC (step, leapfrog steps, friction) and
annealed Langevin (step) at the same score evaluations per sample.

Usage: python benchmarks/sampler_sweep.py RUN_DIR [--samples 500] [--evals-per-level 31] [OVERRIDES...]

RUN_DIR is a finished `fedkd-gen` score-model run (its generator.pt is read); OVERRIDES are the `fedkd-gen`
overrides it was made with, checked against its config.yaml. The selection metric is the Fréchet distance to
the *training* split in the evaluator's features, so the held-out test split plays no part in choosing
sampler settings (for a DP run, that choice itself looks at private data: tune on public data instead).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch
import yaml

from fedkd.config.schema import as_dict
from fedkd.paths import expand
from private_gen.config import load_generation
from private_gen.experiment import conditioning_classes, load_data
from private_gen.metrics.evaluator import evaluator_frechet, load_or_train_evaluator
from private_gen.samplers import SamplerSettings
from private_gen.samplers.hamiltonian import HMCSettings
from private_gen.samplers.langevin import LangevinSettings
from private_gen.sampling import balanced_labels, sample_score_model

LANGEVIN_STEPS = (2e-5, 5e-5, 1e-4, 2e-4)
HMC_GRID = list(itertools.product((1e-5, 2e-5, 5e-5), (1, 3, 5), (0.5, 1.0, 2.0, 100.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--evals-per-level", type=int, default=31)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config = load_generation(args.overrides)
    saved = yaml.safe_load((args.run / "config.yaml").read_text())
    differing = sorted(k for k in saved if k != "output" and saved[k] != as_dict(config)[k])
    if differing:
        raise SystemExit(f"the overrides do not reproduce {args.run}/config.yaml (sections {', '.join(differing)})")
    data = load_data(config)
    net = config.generator.build(data.shape, conditioning_classes(config, data))
    net.load_state_dict(torch.load(args.run / "generator.pt", weights_only=True))
    ev = config.evaluation
    evaluator = load_or_train_evaluator(data.train_x, data.train_y, data.num_classes, ev.evaluator_epochs,
                                        ev.evaluator_seed, expand(config.data_cache))
    labels = balanced_labels(args.samples, data.num_classes)

    def score(sampler: SamplerSettings) -> tuple[float, int]:
        result = sample_score_model(net, labels, data.shape, sampler, config.seed + 7)
        return evaluator_frechet(evaluator, result.samples, data.train_x), result.score_evaluations

    print("| sampler | step α_L | leapfrog L | friction | FD to training split | score evals |")
    print("|---|---:|---:|---:|---:|---:|")
    for step in LANGEVIN_STEPS:
        fd, evals = score(LangevinSettings(step_size=step, evals_per_level=args.evals_per_level))
        print(f"| langevin | {step:g} | – | – | {fd:.2f} | {evals} |", flush=True)
    for step, leapfrog, friction in HMC_GRID:
        fd, evals = score(HMCSettings(step_size=step, evals_per_level=args.evals_per_level, leapfrog_steps=leapfrog,
                                      friction=friction, step_jitter=0.5))
        print(f"| hmc | {step:g} | {leapfrog} | {friction:g} | {fd:.2f} | {evals} |", flush=True)


if __name__ == "__main__":
    main()
