"""Cost of one DP-SGD step of DSM fine-tuning per `generator.train.trainable` subset, timed in one run.

Usage: python benchmarks/dp_finetune_cost.py [--side 28] [--batch 256] [--width 16] [--repeats 5] [--threads 1]

The network is fedkd-gen's default U-Net for the side (four scales at 28×28, 96 noise levels as Song & Ermon's
rules give on the MNIST subset); the step is what `gen_privacy=dp` runs for DSM: Opacus' per-sample hooks, the
per-sample clipping, the noise and Adam, through Opacus' DPOptimizer. Each repeat times every subset once, in
turn; the table gives the median seconds per step, the ratio to `all`, and the weights trained (the dimension
of the noise).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer

from private_gen.noise_levels import geometric_sigmas
from private_gen.objectives import ScoreObjective, draw_batch
from private_gen.privacy.dp_sgd import _hook_grads
from private_gen.score_net import ScoreNetSettings
from private_gen.trainable import TRAINABLE, select_trainable


def dp_step(trainable: str, x: torch.Tensor, y: torch.Tensor, width: int, levels: int
            ) -> tuple[Callable[[int], None], int]:
    torch.manual_seed(0)
    model = ScoreNetSettings(width=width).build(1, x.shape[-1], geometric_sigmas(1.0, 0.01, levels), 10)
    trained, _ = select_trainable(model, trainable)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    wrapped = GradSampleModule(model)
    optimizer = DPOptimizer(torch.optim.Adam([p for _, p in params], lr=1e-3), noise_multiplier=1.0,
                            max_grad_norm=1.0, expected_batch_size=len(x))
    objective = ScoreObjective(kind="dsm")

    def run(seed: int) -> None:
        batch = draw_batch(x, y, levels, objective, torch.Generator().manual_seed(seed))
        grads, _ = _hook_grads(wrapped, model.sigmas, params, batch, 1)
        for name, p in params:
            p.grad_sample = grads[name]
        if optimizer.pre_step():
            optimizer.original_optimizer.step()
        optimizer.zero_grad()

    return run, trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--levels", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y = torch.rand(args.batch, 1, args.side, args.side), torch.arange(args.batch) % 10
    variants = {t: dp_step(t, x, y, args.width, args.levels) for t in TRAINABLE}
    times: dict[str, list[float]] = {t: [] for t in variants}
    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        for trainable, (run, _) in variants.items():
            started = time.perf_counter()
            run(repeat)
            if repeat:
                times[trainable].append(time.perf_counter() - started)
    base = statistics.median(times["all"])
    print(f"DSM DP-SGD step, {args.side}×{args.side}, batch {args.batch}, width {args.width}, {args.levels} levels, "
          f"{args.threads} thread(s), median of {args.repeats}")
    print("| trainable | weights trained | s per step | × all |\n|---|---:|---:|---:|")
    for trainable, (_, trained) in variants.items():
        median = statistics.median(times[trainable])
        print(f"| {trainable} | {trained:,} | {median:.2f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
