"""Cost of one score-model training step per objective (SSM-VR, SSM, DSM) and parameterisation (score, energy),
non-private and with the per-sample gradients DP-SGD needs, timed in one run.

Usage: python benchmarks/score_objective_cost.py [--side 28] [--batch 64] [--width 16] [--repeats 5] [--threads 1]

Same network settings as `fedkd-gen`'s defaults, random [0, 1] images of the given side, one projection. The
non-private step is forward + objective + backward + Adam; the DP step computes every per-sample gradient the
way `gen_privacy=dp` does (torch.func vmap for the sliced objectives and any energy model, Opacus' hooks for DSM
on a score network) without the clipping and noise (the same for every variant). Each repeat times every
variant once, in turn; the table gives median milliseconds per step and the ratio to the non-private SSM-VR
score network.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from opacus import GradSampleModule

from private_gen.energy_net import EnergyNet
from private_gen.noise_levels import geometric_sigmas
from private_gen.objectives import ScoreObjective, annealed_loss, draw_batch
from private_gen.per_sample_grads import per_sample_grads
from private_gen.privacy.dp_sgd import _hook_grads, uses_opacus_hooks
from private_gen.score_net import ScoreNet


def build(parameterization: str, width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    net = ScoreNet(1, geometric_sigmas(1.0, 0.01, 10), width=width, num_classes=10)
    return EnergyNet(net) if parameterization == "energy" else net


def step(kind: str, parameterization: str, private: bool, x: torch.Tensor, y: torch.Tensor, width: int
         ) -> Callable[[int], None]:
    model = build(parameterization, width)
    objective = ScoreObjective(kind=kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    hooks = private and uses_opacus_hooks(model, objective)
    wrapped = GradSampleModule(model) if hooks else None
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]

    def run(seed: int) -> None:
        batch = draw_batch(x, y, len(model.sigmas), objective, torch.Generator().manual_seed(seed))
        optimizer.zero_grad()
        if not private:
            annealed_loss(model, model.sigmas, batch, kind).mean().backward()
        elif wrapped is not None:
            _hook_grads(wrapped, model.sigmas, params, batch, 1)
            for _, p in params:
                p.grad_sample = None
        else:
            per_sample_grads(model, batch, kind, 1, chunk_size=64)
        optimizer.step()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y = torch.rand(args.batch, 1, args.side, args.side), torch.arange(args.batch) % 10
    variants = {(kind, param, private): step(kind, param, private, x, y, args.width)
                for private in (False, True) for param in ("score", "energy") for kind in ("ssm_vr", "ssm", "dsm")}
    times: dict[tuple[str, str, bool], list[float]] = {key: [] for key in variants}
    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        for key, run in variants.items():
            started = time.perf_counter()
            run(repeat)
            if repeat:
                times[key].append(time.perf_counter() - started)
    base = statistics.median(times[("ssm_vr", "score", False)])
    print(f"{args.side}×{args.side} images, batch {args.batch}, width {args.width}, {args.threads} thread(s), "
          f"median of {args.repeats}")
    print("| objective | parameterisation | step | per-sample gradients | ms per step | × non-private SSM-VR score |")
    print("|---|---|---|---|---:|---:|")
    for (kind, param, private), values in times.items():
        how = ("Opacus hooks" if uses_opacus_hooks(build(param, 8), ScoreObjective(kind=kind)) else "torch.func vmap"
               ) if private else "–"
        median = statistics.median(values)
        print(f"| {kind} | {param} | {'DP (per-sample)' if private else 'non-private'} | {how} | "
              f"{1000 * median:.0f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
