"""Time one client update of every method against FedAvg's, on the same client data, in one run.

Usage: python benchmarks/client_update_cost.py [--repeats 7] [hydra overrides...]

Each repeat times every method once, in turn (interleaved, so drift hits all alike); the table
gives the median seconds and the ratio of medians to FedAvg. Methods with state (FedCKD's historical
teacher, Ditto's personal model, FedPer's head) are timed in a later participation, i.e. with
everything they keep already present: FedCKD runs with both teachers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from flwr.app import RecordDict

from fedkd.app.experiment_config import load_federated
from fedkd.data.federated import data_shape, load_client_data
from fedkd.methods.base import RoundInput
from fedkd.methods.registry import METHODS
from fedkd.protocol.instructions import PROXIMAL_MU
from fedkd.state.client_state import ClientState

STRATEGIES = METHODS.names()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(1)
    configs = {name: load_federated([f"strategy={name}", *args.overrides]) for name in STRATEGIES}
    base = configs["fedavg"]
    data = load_client_data(base.federation(), 0)
    shape = data_shape(base.federation())

    def new_model() -> torch.nn.Module:
        return base.new_model(shape)

    torch.manual_seed(0)
    global_weights = new_model().state_dict()
    states = {name: ClientState(RecordDict()) for name in STRATEGIES}

    def round_input(name: str, server_round: int) -> RoundInput:
        return RoundInput(global_weights, data, states[name], server_round, server_round, new_model,
                          {PROXIMAL_MU: configs["fedprox"].strategy.proximal_mu})

    for name in STRATEGIES:  # first participation: fills each method's state
        configs[name].local_method().fit(round_input(name, 1))
    times: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    for repeat in range(args.repeats):
        for name in STRATEGIES:
            method = configs[name].local_method()
            start = time.perf_counter()
            method.fit(round_input(name, 2 + repeat))
            times[name].append(time.perf_counter() - start)
    print(f"dataset={base.dataset.name} client 0: {len(data.train_y)} train samples, "
          f"local_epochs={base.train.local_epochs}, batch {base.train.batch_size}, "
          f"1 thread, median of {args.repeats}")
    print("| method | seconds per update | ratio to FedAvg |")
    print("|---|---:|---:|")
    reference = statistics.median(times["fedavg"])
    for name in STRATEGIES:
        median = statistics.median(times[name])
        print(f"| {name} | {median:.3f} | {median / reference:.2f} |")


if __name__ == "__main__":
    main()
