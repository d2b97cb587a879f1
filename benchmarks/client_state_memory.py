"""Memory of the client states that FedCKD keeps across rounds, for many clients in one process.

Usage: python benchmarks/client_state_memory.py [--clients 1000] [hydra overrides...]

For each precision of `simulation.state_precision`, a fresh subprocess builds the default workload's
model and stores one distinct historical model plus the counters in a Flower `RecordDict` per client,
exactly as `ClientState` does in the simulation process; it reports the stored bytes and the growth of
the process's resident memory (RSS). FedCKD, pFedSD and Ditto keep one model per client; FedPer/FedRep
only a head; the others nothing but counters.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(clients: int, precision: str, overrides: list[str]) -> dict[str, float]:
    from flwr.app import RecordDict

    from fedkd.app.experiment_config import load_federated
    from fedkd.data.federated import data_shape
    from fedkd.methods.fedckd import HISTORICAL_MODEL
    from fedkd.state.client_state import ClientState

    config = load_federated(overrides)
    model = config.new_model(data_shape(config.federation()))
    weights = model.state_dict()
    before = rss_bytes()
    states = []
    for client in range(clients):
        state = ClientState(RecordDict())
        state.record_participation(1)
        state.put_model(HISTORICAL_MODEL, {k: v + client * 1e-3 if v.is_floating_point() else v.clone()
                                           for k, v in weights.items()}, half=precision == "float16")
        states.append(state)
    grown = rss_bytes() - before
    stored = sum(s.nbytes() for s in states)
    params = sum(p.numel() for p in model.parameters())
    return {"precision": precision, "clients": clients, "parameters": params,
            "stored_mb": stored / 2**20, "rss_growth_mb": grown / 2**20, "per_client_mb": grown / 2**20 / clients}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--precision", choices=["float16", "float32"])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.precision:
        print(json.dumps(measure(args.clients, args.precision, args.overrides)))
        return
    print(f"{args.clients} clients, one historical model each (default workload unless overridden)")
    print("| precision | model parameters | stored (MB) | RSS growth (MB) | per client (MB) | under 2 GB |")
    print("|---|---:|---:|---:|---:|---|")
    for precision in ("float16", "float32"):
        out = subprocess.run([sys.executable, __file__, "--clients", str(args.clients), "--precision", precision,
                              *args.overrides], capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {precision} | {r['parameters']:,} | {r['stored_mb']:.0f} | {r['rss_growth_mb']:.0f} "
              f"| {r['per_client_mb']:.2f} | {'yes' if r['rss_growth_mb'] < 2048 else 'NO'} |")


if __name__ == "__main__":
    main()
