"""Time one simulated round and one client update of the default workload; report the share of a
round spent outside client code (Flower + Ray scheduling, message passing, polling), and the same rounds on
the serial in-process backend, in one run: the Ray speed-up over serial.

Usage: python benchmarks/round_overhead.py [hydra overrides...]   (default: 8 rounds)
Client compute comes from the seconds each ClientApp call reports (setup + train/evaluate);
busy time per round = sum over clients / number of concurrent Ray workers.
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fedkd.app.experiment_config import FederatedConfig, load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.app.simulation import run_in_simulation
from fedkd.data.federated import data_shape, load_client_data
from fedkd.training.local import train_local


def time_client_update(config: FederatedConfig, repeats: int = 5) -> float:
    import torch

    torch.set_num_threads(int(config.simulation.client_cpus))
    data = load_client_data(config.federation(), 0)
    times = []
    for r in range(repeats):
        model = config.new_model(data_shape(config.federation()))
        start = time.perf_counter()
        train_local(model, data.train_x, data.train_y, config.train, seed=r)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rounds_and_clients(config: FederatedConfig) -> tuple[list[dict], list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        if config.simulation.backend == "inprocess":
            run = run_in_process(config, output_root=Path(tmp))
        else:
            run = run_in_simulation(config, output_root=Path(tmp))
        with open(run / "rounds.csv") as fh:
            rounds = list(csv.DictReader(fh))
        with open(run / "clients.csv") as fh:
            clients = list(csv.DictReader(fh))
    return rounds, clients


def steady_seconds(rounds: list[dict], clients: list[dict]) -> tuple[float, float]:
    """Mean seconds of rounds 2.. and mean sum of the ClientApp seconds in them."""
    steady = [r for r in rounds if int(r["round"]) > 1]
    return (statistics.mean(float(r["seconds"]) for r in steady),
            statistics.mean(sum(float(c["seconds"]) for c in clients if c["round"] == r["round"]) for r in steady))


def makespan(seconds: list[float], workers: int) -> float:
    """When the last of these ClientApp calls ends if each goes, in order, to the first free worker (Flower's
    dispatch) and nothing else costs time: the round's floor set by client code and load balance."""
    free = [0.0] * workers
    for s in seconds:
        free[free.index(min(free))] += s
    return max(free)


def balanced_floor(clients: list[dict], server_round: str, workers: int) -> float:
    """The train and the evaluate phase's makespans, added (the phases do not overlap)."""
    return sum(makespan([float(c["seconds"]) for c in sorted(
        (c for c in clients if c["round"] == server_round and c["phase"] == phase),
        key=lambda c: int(c["partition_id"]))], workers) for phase in ("train", "evaluate"))


def main() -> None:
    config = load_federated(["num_rounds=8", *sys.argv[1:]])
    update = time_client_update(config)
    serial_round, serial_clients = steady_seconds(*rounds_and_clients(
        load_federated(["num_rounds=8", *sys.argv[1:], "simulation.backend=inprocess"])))
    rounds, clients = rounds_and_clients(config)
    workers = min(config.simulation.num_clients, max(1, int((os.cpu_count() or 1) // config.simulation.client_cpus)))
    steady = [r for r in rounds if int(r["round"]) > 1]  # round 1 includes Ray worker start-up
    round_s = statistics.mean(float(r["seconds"]) for r in steady)
    busy = statistics.mean(
        sum(float(c["seconds"]) for c in clients if c["round"] == r["round"]) / workers for r in steady)
    print(f"config: dataset={config.dataset.name} clients={config.simulation.num_clients} "
          f"lowres={config.lowres.size if config.lowres.enabled else 'off'} "
          f"local_epochs={config.train.local_epochs} workers={workers}")
    print(f"one client update (train only, in-process, median of 5): {update:.3f} s")
    print(f"round 1 (includes Ray worker start-up): {float(rounds[0]['seconds']):.2f} s")
    print(f"steady round (rounds 2-{len(rounds)}, train + evaluate): {round_s:.2f} s")
    print(f"client compute per round (sum / {workers} workers): {busy:.2f} s")
    print(f"share of a round outside client code: {max(0.0, 1 - busy / round_s):.1%}")
    floor = statistics.mean(balanced_floor(clients, r["round"], workers) for r in steady)
    print(f"  of which load imbalance (client code alone, dispatched in partition order to {workers} workers: "
          f"{floor:.2f} s per round): {max(0.0, floor - busy) / round_s:.1%}; the rest (messaging, Ray, polls, "
          f"the server's own work): {max(0.0, 1 - floor / round_s):.1%}")
    print(f"serial in-process backend, same rounds: {serial_round:.2f} s per steady round, client code "
          f"{serial_clients:.2f} s of it ({max(0.0, 1 - serial_clients / serial_round):.1%} outside)")
    print(f"ClientApp seconds per round, summed over clients: {busy * workers:.2f} s under Ray, "
          f"{serial_clients:.2f} s serial ({busy * workers / serial_clients:.2f}×)")
    print(f"Ray ({workers} workers) speed-up over the serial in-process backend: {serial_round / round_s:.2f}×")


if __name__ == "__main__":
    main()
