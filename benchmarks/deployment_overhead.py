"""Seconds per round of the same app and 3 clients: Deployment Engine (fedkd-deploy: TLS SuperLink + 3
SuperNodes on loopback) against the Simulation Runtime (Ray) and the in-process runtime, in one run.

Usage: python benchmarks/deployment_overhead.py [--rounds 4] [hydra overrides...]

Each runtime runs the same experiment (digits, 3 clients, FedAvg by default); the table gives round 1
(start-up included) and the median of the later rounds, from each run's rounds.csv, plus the wall time
of the whole command. The deployment runs twice: with Flower's defaults and with the one polling interval
Flower 1.41 lets a user set (FLWR_SUPEREXEC_TASK_POLL_INTERVAL, the SuperExec's wait between asks for a
new ClientApp task; default 1 s). The time to import the ClientApp module (paid by every ClientApp
process, i.e. per message in a deployment) is printed too.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


POLL_ENV = "FLWR_SUPEREXEC_TASK_POLL_INTERVAL"


def run(name: str, command: list[str], out: Path, env: dict[str, str] | None = None) -> dict[str, float | str]:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=os.environ | (env or {}))
    wall = time.perf_counter() - started
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and (p / "rounds.csv").is_file()]
    with open(run_dir / "rounds.csv") as fh:
        seconds = [float(r["seconds"]) for r in csv.DictReader(fh)]
    return {"runtime": name, "round 1 s": seconds[0], "later rounds s (median)": statistics.median(seconds[1:]),
            "wall s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    common = ["dataset=digits", "lowres=none", f"num_rounds={args.rounds}", *args.overrides]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (("simulation (Ray, 2 workers)", ["simulation.backend=ray"]),
                            ("in-process", ["simulation.backend=inprocess"])):
            out = Path(tmp) / name.split()[0]
            rows.append(run(name, [str(BIN / "fedkd-sim"), *common, "simulation.num_clients=3", *extra,
                                   f"output.root={out}"], out))
        for name, env in (("deployment (TLS, 3 SuperNodes)", {}),
                          (f"deployment, {POLL_ENV}=0.1", {POLL_ENV: "0.1"})):
            out = Path(tmp) / f"deploy{len(rows)}"
            rows.append(run(name, [str(BIN / "fedkd-deploy"), "--supernodes", "3", "--dir", str(out / "cluster"),
                                   *common, f"output.root={out}"], out, env))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import fedkd.app.client_app"], check=True)
    print(f"import fedkd.app.client_app in a fresh interpreter: {time.perf_counter() - started:.1f} s")
    print(f"{' '.join(common)}, 3 clients; seconds from rounds.csv")
    print("| runtime | round 1 s | later rounds s (median) | wall s |\n|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['runtime']} | {r['round 1 s']:.1f} | {r['later rounds s (median)']:.1f} | {r['wall s']:.0f} |")


if __name__ == "__main__":
    main()
