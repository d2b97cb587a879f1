"""Cost of sample-level DP: one client update with DP-SGD against the same update without, in one run.

Usage: python benchmarks/dp_cost.py [--repeats 5] [--strategy fedavg] [--threads 1] [hydra overrides...]

Same client data (client 0 of the configured federation), same model: the default student with GroupNorm
(what DP runs train; BatchNorm has no per-sample gradients), also timed with its BatchNorm (the
non-private default) for reference. DP-SGD is timed in each per-sample clipping mode of
fedkd/privacy/dp_step.py (bookkeeping, hooks, functorch, ghost clipping), through the method's own objective; the
privacy budget is left unbounded (σ = 1) so every repeat takes all its steps. Each repeat times every variant once,
in turn; the table gives the median seconds and the ratio of medians to the non-private GroupNorm update.
One thread by default (a simulated client's share).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from flwr.app import RecordDict

from fedkd.app.experiment_config import FederatedConfig, load_federated
from fedkd.data.federated import data_shape, load_client_data
from fedkd.methods.base import RoundInput
from fedkd.privacy.sample_level import GRAD_SAMPLE_MODES, ClientBudget, PrivateTraining, SampleDPSettings
from fedkd.state.client_state import ClientState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strategy", default="fedavg")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    common = [f"strategy={args.strategy}", *args.overrides]
    plain = load_federated(common)
    private = {mode: load_federated([*common, "privacy=sample", "privacy.target_epsilon=null",
                                     "privacy.noise_multiplier=1.0", f"privacy.grad_sample_mode={mode}"])
               for mode in GRAD_SAMPLE_MODES if mode != "auto"}
    groupnorm = next(iter(private.values()))
    data = load_client_data(plain.federation(), 0)
    shape = data_shape(plain.federation())
    torch.manual_seed(0)
    weights = {"batchnorm": plain.new_model(shape).state_dict(), "groupnorm": groupnorm.new_model(shape).state_dict()}

    def update(config: FederatedConfig, norm: str, dp: bool) -> Callable[[int], None]:
        state = ClientState(RecordDict())
        method = config.local_method()

        def run(seed: int) -> None:
            round_input = RoundInput(weights[norm], data, state, seed, seed, lambda: config.new_model(shape), {})
            if dp:
                assert isinstance(config.privacy, SampleDPSettings)
                planned = config.privacy.planned(config.num_rounds, config.simulation.fraction_train)
                budget = ClientBudget(config.privacy, planned, state, len(data.train_y), config.train.batch_size,
                                      method.epochs_per_participation())
                round_input.private = PrivateTraining(budget, seed)
            method.fit(round_input)

        return run

    variants = {"no DP, GroupNorm (reference)": update(groupnorm, "groupnorm", dp=False),
                "no DP, BatchNorm (non-private default)": update(plain, "batchnorm", dp=False)}
    variants |= {f"DP-SGD, {mode}": update(config, "groupnorm", dp=True) for mode, config in private.items()}
    for run in variants.values():  # warm-up: first calls pay for imports and allocations
        run(0)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run(1 + repeat)
            times[name].append(time.perf_counter() - start)
    print(f"dataset={plain.dataset.name} model={plain.model.name} strategy={args.strategy}, client 0: "
          f"{len(data.train_y)} train samples, local_epochs={plain.train.local_epochs}, "
          f"batch {plain.train.batch_size}, {args.threads} thread(s), median of {args.repeats}")
    reference = statistics.median(times["no DP, GroupNorm (reference)"])
    print("| update | median s | × no-DP GroupNorm |\n|---|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.3f} | {statistics.median(values) / reference:.2f} |")


if __name__ == "__main__":
    main()
