"""Time one simulated round and one client update of the default workload; report the share of a
round spent outside client code (Flower + Ray scheduling, message passing, polling), and the same rounds on
the serial in-process backend and under Flower's own instruction pickup (`simulation.instruction_pickup=flower`),
in one run: the Ray speed-up over serial, and what fedkd's pickup gains.

Usage: python benchmarks/round_overhead.py [--repeats 3] [hydra overrides...]   (default: 8 rounds)
Client compute comes from the seconds each ClientApp call reports (setup + train/evaluate);
busy time per round = sum over clients / number of concurrent Ray workers.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
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

    torch.set_num_threads(max(1, int(config.simulation.client_cpus)))  # as the ClientApp does
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


def dispatch_order(clients: list[dict], server_round: str, phase: str, pickup: str) -> list[dict]:
    """A phase's ClientApp calls in the order the engine queued them: partition order under Flower's pickup;
    fedkd's queues them by the previous round's seconds in the phase, longest first, unseen partitions first."""
    calls = sorted((c for c in clients if c["round"] == server_round and c["phase"] == phase),
                   key=lambda c: int(c["partition_id"]))
    if pickup == "flower":
        return calls
    before = {c["partition_id"]: float(c["seconds"]) for c in clients
              if c["phase"] == phase and int(c["round"]) == int(server_round) - 1}
    return sorted(calls, key=lambda c: -before.get(c["partition_id"], float("inf")))


def balanced_floor(clients: list[dict], server_round: str, workers: int, pickup: str) -> float:
    """The train and the evaluate phase's makespans, added (the phases do not overlap)."""
    return sum(makespan([float(c["seconds"]) for c in dispatch_order(clients, server_round, phase, pickup)], workers)
               for phase in ("train", "evaluate"))


def figures(config: FederatedConfig, rounds: list[dict], clients: list[dict], workers: int) -> dict[str, float]:
    """One Ray run's steady-round figures (round 1 includes the Ray workers' start-up)."""
    steady = [r for r in rounds if int(r["round"]) > 1]
    round_s = statistics.mean(float(r["seconds"]) for r in steady)
    busy = statistics.mean(
        sum(float(c["seconds"]) for c in clients if c["round"] == r["round"]) / workers for r in steady)
    floor = statistics.mean(balanced_floor(clients, r["round"], workers, config.simulation.instruction_pickup)
                            for r in steady)
    return {"first": float(rounds[0]["seconds"]), "round": round_s, "busy": busy, "outside": 1 - busy / round_s,
            "imbalance": max(0.0, floor - busy) / round_s, "rest": 1 - floor / round_s}


def report(label: str, runs: list[dict[str, float]], workers: int, serial_round: float, serial_clients: float) -> None:
    def med(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    def each(key: str, form: str) -> str:
        return ", ".join(format(run[key], form) for run in runs)

    print(f"-- Ray, {label} (median of {len(runs)} runs; steady rounds "
          f"{each('round', '.2f')} s)")
    print(f"round 1 (includes Ray worker start-up): {med('first'):.2f} s")
    print(f"steady round (rounds 2.., train + evaluate): {med('round'):.2f} s")
    print(f"client compute per round (sum / {workers} workers): {med('busy'):.2f} s")
    print(f"share of a round outside client code: {med('outside'):.1%} (runs: "
          f"{each('outside', '.1%')})")
    print(f"  of which load imbalance (client code alone, in the engine's dispatch order): {med('imbalance'):.1%}; "
          f"the rest (messaging, Ray, polls, the server's own work): {med('rest'):.1%}")
    print(f"ClientApp seconds per round, summed over clients: {med('busy') * workers:.2f} s under Ray, "
          f"{serial_clients:.2f} s serial ({med('busy') * workers / serial_clients:.2f}×)")
    print(f"Ray ({workers} workers) speed-up over the serial in-process backend: {serial_round / med('round'):.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, interleaved")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    base = ["num_rounds=8", *args.overrides]
    config = load_federated(base)
    update = time_client_update(config)
    workers = min(config.simulation.num_clients, max(1, int((os.cpu_count() or 1) // config.simulation.client_cpus)))
    serial: list[tuple[float, float]] = []
    runs: dict[str, list[dict[str, float]]] = {"wake": [], "flower": []}
    for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits every variant
        serial.append(steady_seconds(*rounds_and_clients(load_federated([*base, "simulation.backend=inprocess"]))))
        for pickup, results in runs.items():
            run_config = load_federated([*base, f"simulation.instruction_pickup={pickup}"])
            results.append(figures(run_config, *rounds_and_clients(run_config), workers))
    serial_round = statistics.median(r for r, _ in serial)
    serial_clients = statistics.median(c for _, c in serial)
    print(f"config: dataset={config.dataset.name} clients={config.simulation.num_clients} "
          f"lowres={config.lowres.size if config.lowres.enabled else 'off'} "
          f"local_epochs={config.train.local_epochs} workers={workers}")
    print(f"one client update (train only, in-process, median of 5): {update:.3f} s")
    print(f"serial in-process backend (median of {args.repeats}): {serial_round:.2f} s per steady round, client code "
          f"{serial_clients:.2f} s of it ({max(0.0, 1 - serial_clients / serial_round):.1%} outside)")
    for pickup, results in runs.items():
        report(f"simulation.instruction_pickup={pickup}", results, workers, serial_round, serial_clients)
    ratio = statistics.median(r["round"] for r in runs["flower"]) / statistics.median(r["round"] for r in runs["wake"])
    print(f"fedkd's pickup against Flower's: {ratio:.2f}× faster per steady round")


if __name__ == "__main__":
    main()
