"""Seconds per round of the same app and 3 clients: Deployment Engine (fedkd-deploy: TLS SuperLink + 3
SuperNodes on loopback) against the Simulation Runtime (Ray) and the in-process runtime, in one run, and where a
deployed message's time goes.

Usage: python benchmarks/deployment_overhead.py [--rounds 4] [hydra overrides...]

Each runtime runs the same experiment (digits, 3 clients, FedAvg by default); the table gives round 1
(start-up included) and the median of the later rounds, from each run's rounds.csv, plus the wall time of the
whole command. The deployment runs three ways: as Flower paces it (a new ClientApp process per message that
imports torch and fedkd, the ServerApp asking for replies every 3 s), with fedkd's reply polling only
(`simulation.reply_poll_interval=0.1`), and with fedkd-deploy's defaults (that polling and a warm worker per
SuperNode). For the deployments, FEDKD_TIMING_LOG marks (fedkd/app/timing_log.py) split each message of the
later rounds into: pickup (the ServerApp pushed it -> its ClientApp process started), start (process start ->
fedkd's handler called: interpreter, Flower's imports, task pull), handler (fedkd's work, torch's import
included where the process is new), return (handler done -> the ServerApp has the reply).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BIN = Path(sys.executable).parent
DEPLOYMENTS = (("deployment, Flower's pace (per-message processes, 3 s reply polls)",
                ["--client-worker", "per-message"], ["simulation.reply_poll_interval=3"]),
               ("deployment, per-message processes, 0.1 s reply polls", ["--client-worker", "per-message"], []),
               ("deployment, fedkd-deploy default (warm worker, 0.1 s polls)", [], []))
PHASES = ("pickup", "start", "handler", "return")


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


def message_phases(log: Path) -> dict[str, dict[str, float]]:
    """Median seconds of each phase of a message, by message type, over rounds >= 2."""
    events = [json.loads(line) for line in log.read_text().splitlines()]
    pushed = {(e["phase"], e["round"]): e["t"] for e in events if e["event"] == "pushed"}
    by_key: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for e in events:
        if e["event"] in ("client_start", "client_end", "replied") and e.get("round", 0) >= 2:
            by_key[(e["phase"], e["round"], e["partition"])][e["event"]] = e
    spans: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (phase, rnd, _), marks in by_key.items():
        if len(marks) < 3 or (phase, rnd) not in pushed:
            continue
        start, end, replied = marks["client_start"], marks["client_end"], marks["replied"]
        for name, value in zip(PHASES, (start["process_started"] - pushed[(phase, rnd)],
                                        start["t"] - start["process_started"], end["t"] - start["t"],
                                        replied["t"] - end["t"]), strict=True):
            spans[phase][name].append(value)
    return {phase: {k: statistics.median(v) for k, v in parts.items()} for phase, parts in spans.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    common = ["dataset=digits", "lowres=none", f"num_rounds={args.rounds}", *args.overrides]
    rows, phases = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (("simulation (Ray, 2 workers)", ["simulation.backend=ray"]),
                            ("in-process", ["simulation.backend=inprocess"])):
            out = Path(tmp) / name.split()[0]
            rows.append(run(name, [str(BIN / "fedkd-sim"), *common, "simulation.num_clients=3", *extra,
                                   f"output.root={out}"], out))
        for name, options, overrides in DEPLOYMENTS:
            out = Path(tmp) / f"deploy{len(rows)}"
            log = Path(tmp) / f"timing{len(rows)}.jsonl"
            rows.append(run(name, [str(BIN / "fedkd-deploy"), "--supernodes", "3", "--dir", str(out / "cluster"),
                                   *options, *common, *overrides, f"output.root={out}"], out,
                            {"FEDKD_TIMING_LOG": str(log)}))
            phases[name] = message_phases(log)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import fedkd.app.client_app"], check=True)
    print(f"import fedkd.app.client_app in a fresh interpreter: {time.perf_counter() - started:.1f} s")
    print(f"{' '.join(common)}, 3 clients; seconds from rounds.csv")
    print("| runtime | round 1 s | later rounds s (median) | wall s |\n|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['runtime']} | {r['round 1 s']:.1f} | {r['later rounds s (median)']:.1f} | {r['wall s']:.0f} |")
    print("\nmedian seconds per message, rounds >= 2 (FEDKD_TIMING_LOG marks)")
    print(f"| deployment | message | {' | '.join(PHASES)} |\n|---|---|{'---:|' * len(PHASES)}")
    for name, by_phase in phases.items():
        for phase, parts in sorted(by_phase.items(), key=lambda kv: kv[0] != "train"):
            print(f"| {name} | {phase} | {' | '.join(f'{parts[p]:.2f}' for p in PHASES)} |")


if __name__ == "__main__":
    main()
