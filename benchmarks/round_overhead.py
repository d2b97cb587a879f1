"""Time one simulated round and one client update of the default workload; report the share of a
round spent outside client code (Flower + Ray scheduling, message passing, polling).

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


def main() -> None:
    config = load_federated(["num_rounds=8", *sys.argv[1:]])
    update = time_client_update(config)
    with tempfile.TemporaryDirectory() as tmp:
        run = run_in_simulation(config, output_root=Path(tmp))
        with open(run / "rounds.csv") as fh:
            rounds = list(csv.DictReader(fh))
        with open(run / "clients.csv") as fh:
            clients = list(csv.DictReader(fh))
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


if __name__ == "__main__":
    main()
