"""Validation figures of finished generator runs: how settings are chosen without the real test split.

For each run directory it prints the Fréchet distance of the run's samples to the private *training* split
(in the evaluator's features) and the accuracy on the training split of a CNN trained on the samples (the
validation split of DPImageBench's protocol is likewise carved from the sensitive data). The test-split
figures of summary.json are not read, so settings chosen here are not chosen on test data. Choosing by these
figures looks at private data outside the accountant, as every tuned DP result in the literature does; the
choice is between a few discrete options on a tuning seed that is not reported.

With --resample, each finished score-model run is sampled again (no retraining, same sampling seed) once per
group of sampler overrides, and the figures are those of the new samples: sampler settings such as the
classifier-free guidance weight are tuned this way.

    python benchmarks/gen_validation.py RUN_DIR... [--keys generator.train.trainable generator.train.lr]
        [--resample "sampler.guidance=0" "sampler.guidance=1" ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fedkd.errors import UserError  # noqa: E402


def saved_config(run: Path, extra: Sequence[str] = ()) -> Any:
    """The run's generation config, composed again from its saved config.yaml (its data set, data, evaluation,
    generator, sampler and pretraining settings), plus `extra` overrides."""
    from omegaconf import OmegaConf

    from private_gen.config import load_generation

    saved = OmegaConf.load(run / "config.yaml")
    groups = [f"{group}={saved[group].name}" for group in ("dataset", "generator", "sampler", "pretrain")]
    leaves = _leaves(saved, ("dataset", "data", "evaluation", "generator", "sampler", "pretrain"))
    return load_generation([*groups, f"seed={saved.seed}", f"data_cache='{saved.data_cache}'",
                            *(f"{key}={'null' if value is None else value}" for key, value in leaves), *extra])


def validation_figures(run: Path, sampler_overrides: Sequence[str] | None = None) -> dict[str, float]:
    """The figures of the run's saved samples, or (`sampler_overrides`, a score-model run) of new samples drawn
    from its saved model with these sampler settings."""
    import torch

    from fedkd.paths import expand
    from private_gen.experiment import SAMPLE_SEED_OFFSET, load_data, trained_score_model
    from private_gen.metrics.classifiers import cnn_accuracy, train_cnn
    from private_gen.metrics.evaluator import evaluator_frechet, load_or_train_evaluator
    from private_gen.sampling import balanced_labels, sample_score_model

    config = saved_config(run, sampler_overrides or ())
    data = load_data(config)
    if sampler_overrides is None:
        stored = torch.load(run / "samples.pt", weights_only=True)
        samples, labels = stored["images"].float() / 255, stored["labels"]
    else:
        labels = balanced_labels(config.evaluation.num_samples, data.num_classes)
        samples = sample_score_model(trained_score_model(config, data, run), labels, data.shape, config.sampler,
                                     config.seed + SAMPLE_SEED_OFFSET).samples.cpu()
    ev = config.evaluation
    evaluator = load_or_train_evaluator(data.train_x, data.train_y, data.num_classes, ev.evaluator_epochs,
                                        ev.evaluator_seed, expand(config.data_cache))
    cnn = train_cnn(samples, labels, data.num_classes, ev.classifier_epochs, config.seed)
    return {"frechet_to_train": evaluator_frechet(evaluator, samples, data.train_x),
            "cnn_accuracy_on_train": cnn_accuracy(cnn, data.train_x, data.train_y)}


def _leaves(config: Any, sections: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(dotted key, value) of every scalar setting (null included) in these sections of a saved config, nested
    ones too; the group's `name` is chosen by its group override instead."""
    from omegaconf import OmegaConf

    def flatten(prefix: str, tree: dict[str, Any]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for key, value in tree.items():
            if isinstance(value, dict):
                out += flatten(f"{prefix}.{key}", value)
            elif not isinstance(value, list) and key != "name":
                out.append((f"{prefix}.{key}", value))
        return out

    return [leaf for section in sections for leaf in flatten(section, OmegaConf.to_container(config[section]))]


def _setting(run: Path, key: str) -> str:
    from omegaconf import OmegaConf

    return str(OmegaConf.select(OmegaConf.load(run / "config.yaml"), key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished fedkd-gen run directories")
    parser.add_argument("--keys", nargs="+", default=["generator.train.trainable", "generator.train.lr"],
                        help="config keys printed beside each run")
    parser.add_argument("--resample", nargs="+", metavar="OVERRIDES",
                        help="sample each run's model again once per quoted group of sampler overrides")
    args = parser.parse_args()
    groups: list[list[str] | None] = [g.split() for g in args.resample] if args.resample else [None]
    print(f"| run | {' | '.join(args.keys)} | sampler | Fréchet to train ↓ | CNN acc. on train ↑ |")
    print(f"|---|{'---|' * len(args.keys)}---|---:|---:|")
    for run in args.runs:
        if not (run / "samples.pt").is_file():
            sys.exit(f"{run} has no samples.pt; give finished fedkd-gen run directories")
        settings = " | ".join(_setting(run, key) for key in args.keys)
        for group in groups:
            try:
                figures = validation_figures(run, group)
            except UserError as error:
                sys.exit(f"{run.name}: {error}")
            print(f"| {run.name} | {settings} | {' '.join(group) if group else 'as run'} | "
                  f"{figures['frechet_to_train']:.1f} | {figures['cnn_accuracy_on_train']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
