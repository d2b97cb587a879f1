"""Validation figures of finished generator runs: how settings are chosen without the real test split.

For each run directory it prints the Fréchet distance of the run's samples to the private *training* split
(in the evaluator's features) and the accuracy on the training split of a CNN trained on the samples (the
validation split of DPImageBench's protocol is likewise carved from the sensitive data). The test-split
figures of summary.json are not read, so settings chosen here are not chosen on test data. Choosing by these
figures looks at private data outside the accountant, as every tuned DP result in the literature does; the
choice is between a few discrete options on a tuning seed that is not reported.

    python benchmarks/gen_validation.py RUN_DIR... [--keys generator.train.trainable generator.train.lr]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def validation_figures(run: Path) -> dict[str, float]:
    import torch
    from omegaconf import OmegaConf

    from fedkd.paths import expand
    from private_gen.config import load_generation
    from private_gen.experiment import load_data
    from private_gen.metrics.classifiers import cnn_accuracy, train_cnn
    from private_gen.metrics.evaluator import evaluator_frechet, load_or_train_evaluator

    saved = OmegaConf.load(run / "config.yaml")
    config = load_generation([f"dataset={saved.dataset.name}", f"seed={saved.seed}", f"data_cache='{saved.data_cache}'",
                              *(f"{key}={value}" for key, value in _leaves(saved, ("dataset", "data", "evaluation")))])
    data = load_data(config)
    stored = torch.load(run / "samples.pt", weights_only=True)
    samples, labels = stored["images"].float() / 255, stored["labels"]
    ev = config.evaluation
    evaluator = load_or_train_evaluator(data.train_x, data.train_y, data.num_classes, ev.evaluator_epochs,
                                        ev.evaluator_seed, expand(config.data_cache))
    cnn = train_cnn(samples, labels, data.num_classes, ev.classifier_epochs, config.seed)
    return {"frechet_to_train": evaluator_frechet(evaluator, samples, data.train_x),
            "cnn_accuracy_on_train": cnn_accuracy(cnn, data.train_x, data.train_y)}


def _leaves(config: Any, sections: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(dotted key, value) of every scalar setting in these sections of a saved config."""
    from omegaconf import OmegaConf

    flat: list[tuple[str, Any]] = []
    for section in sections:
        for key, value in OmegaConf.to_container(config[section]).items():
            if value is not None and not isinstance(value, dict | list):
                flat.append((f"{section}.{key}", value))
    return flat


def _setting(run: Path, key: str) -> str:
    from omegaconf import OmegaConf

    return str(OmegaConf.select(OmegaConf.load(run / "config.yaml"), key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished fedkd-gen run directories")
    parser.add_argument("--keys", nargs="+", default=["generator.train.trainable", "generator.train.lr"],
                        help="config keys printed beside each run")
    args = parser.parse_args()
    print(f"| run | {' | '.join(args.keys)} | Fréchet to train ↓ | CNN acc. on train ↑ |")
    print(f"|---|{'---|' * len(args.keys)}---:|---:|")
    for run in args.runs:
        if not (run / "samples.pt").is_file():
            sys.exit(f"{run} has no samples.pt; give finished fedkd-gen run directories")
        figures = validation_figures(run)
        settings = " | ".join(_setting(run, key) for key in args.keys)
        print(f"| {run.name} | {settings} | {figures['frechet_to_train']:.1f} | "
              f"{figures['cnn_accuracy_on_train']:.3f} |")


if __name__ == "__main__":
    main()
