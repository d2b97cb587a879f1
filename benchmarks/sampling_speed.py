"""Score-network evaluations per second while sampling: chain batch size and memory format, in one run.

Usage: python benchmarks/sampling_speed.py [--side 28] [--threads 1] [--batches 64 128 250 500] [--repeats 3]

The annealed samplers spend almost all their time in the score network's forward pass (one per score
evaluation, for the whole batch of chains). This times that pass for the default network at the MNIST
subset's size (`generator.network` defaults, the scale rule, 96 noise levels, class-conditional) for each
chain batch size (`sampler.batch_size`) in PyTorch's default (NCHW) and channels-last layouts (the sampler
uses NCHW: channels-last was not reliably faster here). Each repeat times every variant once, in turn; the
table gives the median images per second and the ratio to NCHW at batch 500 (the default before 128). One
thread by default (one benchmark worker's share of this machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from private_gen.score_net import ScoreNetSettings

EVALUATIONS_PER_TIMING = 2000  # images pushed through the network per timed variant


def images_per_second(net: torch.nn.Module, batch: int, side: int, layout: torch.memory_format) -> float:
    x = torch.rand(batch, 1, side, side).contiguous(memory_format=layout)
    level = torch.zeros(batch, dtype=torch.long)
    label = torch.arange(batch) % 10
    calls = max(2, EVALUATIONS_PER_TIMING // batch)
    with torch.no_grad():
        net(x, level, label)
        start = time.perf_counter()
        for _ in range(calls):
            net(x, level, label)
    return batch * calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 250, 500])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = ScoreNetSettings().build(1, args.side, torch.logspace(1.2, -2, 96), 10).eval()
    layouts = {"NCHW": torch.contiguous_format, "channels-last": torch.channels_last}
    timings: dict[tuple[str, int], list[float]] = {(name, b): [] for name in layouts for b in args.batches}
    for _ in range(args.repeats):
        for name, layout in layouts.items():
            net.to(memory_format=layout)
            for batch in args.batches:
                timings[name, batch].append(images_per_second(net, batch, args.side, layout))
    parameters = sum(p.numel() for p in net.parameters())
    print(f"score network: {parameters:,} parameters, {args.side}x{args.side}, {args.threads} thread(s), "
          f"median of {args.repeats}")
    reference = statistics.median(timings.get(("NCHW", 500), next(iter(timings.values()))))
    print(f"{'layout':<14} {'batch':>6} {'images/s':>9} {'vs NCHW@500':>12}")
    for (name, batch), values in timings.items():
        speed = statistics.median(values)
        print(f"{name:<14} {batch:>6} {speed:>9.0f} {speed / reference:>11.2f}x")


if __name__ == "__main__":
    main()
