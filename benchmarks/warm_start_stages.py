"""Where the DP-MERF warm start's accuracy goes (docs/private_gen.md, "Private warm start, measured").

For each seed it trains the score model on the DP-MERF release's samples exactly as a `pretrain=dp_merf` run does
(same release, same samples, same pretraining), samples it before any DP-SGD step and scores it. Set beside the
benchmark's rows, that splits the warm-start row into its stages: the release alone (the "dp-merf DP ε=<share·ε>"
row: the same release, its own samples), the score model distilled from it (this script; ε is the release's alone)
and the model after DP-SGD fine-tuning (the "DP-MERF warm start" row, ε the composed one).

Usage: python benchmarks/warm_start_stages.py [--dataset digits] [--epsilon 10] [--seeds 0 1 2] [--extra k=v ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.gen_presets import preset_overrides  # noqa: E402
from benchmarks.private_generation import COMMON, ROWS  # noqa: E402


def distilled_only(dataset: str, epsilon: float, seed: int, extra: list[str]) -> dict[str, float]:
    """Metrics of the warm-started score model before fine-tuning, and the release's ε."""
    import torch

    from fedkd.paths import expand
    from private_gen.config import load_generation
    from private_gen.evaluation import evaluate
    from private_gen.experiment import SAMPLE_SEED_OFFSET, conditioning_classes, load_data
    from private_gen.merf_warm_start import merf_warm_start
    from private_gen.sampling import balanced_labels, sample_score_model

    torch.set_num_threads(1)
    row = [o.replace("target_epsilon=10", f"target_epsilon={epsilon:g}")
           for o in ROWS["dsm-hmc DP ε=10, DP-MERF warm start"]]
    config = load_generation([*preset_overrides("cpu", dataset, [*COMMON, *row], None), f"seed={seed}", *extra])
    data = load_data(config)
    classes = conditioning_classes(config, data)
    settings = config.generator
    warm = merf_warm_start(config.pretrain, config.gen_privacy, data, lambda: settings.build(data.shape, classes),
                           settings.train, settings.objective, seed)
    net = settings.build(data.shape, classes)
    net.load_state_dict(warm.state)
    labels = balanced_labels(config.evaluation.num_samples, data.num_classes)
    samples = sample_score_model(net, labels, data.shape, config.sampler, seed + SAMPLE_SEED_OFFSET).samples
    metrics = evaluate(config.evaluation, data, samples.cpu(), labels, True, seed, expand(config.data_cache))
    return metrics | {"release_epsilon": warm.release["epsilon"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits", choices=["digits", "mnist_subset"])
    parser.add_argument("--epsilon", type=float, default=10.0, help="the run's target ε (the release takes its share)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--extra", nargs="*", default=[], help="Hydra overrides (e.g. pretrain.epsilon_share=0.8)")
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:
        runs.append(distilled_only(args.dataset, args.epsilon, seed, args.extra))
        print(f"seed {seed}: release ε={runs[-1]['release_epsilon']:.2f}, Fréchet {runs[-1]['frechet_distance']:.1f}, "
              f"CNN {runs[-1]['cnn_accuracy']:.3f}", flush=True)
    for key in ("frechet_distance", "cnn_accuracy", "logreg_accuracy"):
        values = [r[key] for r in runs]
        spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        print(f"{key}: {statistics.fmean(values):.3f}{spread}")


if __name__ == "__main__":
    main()
