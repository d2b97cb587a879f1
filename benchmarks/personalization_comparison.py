"""Compare FedCKD with the personalized-FL baselines and its own ablations on the same partitions.

Usage: python benchmarks/personalization_comparison.py [--workers 2] [--seeds 0 1 2] [--rounds 30]

Every (dataset, Dirichlet alpha, method, seed) is one federated run through the in-process runtime
(same ServerApp, strategies and ClientApp as `flwr run`): 20 clients, half of them sampled per round,
every client evaluated every `--evaluate-every` rounds and in the final round. Finished runs are
cached under --out (re-running resumes), then the script writes
    <out>/runs.csv                    one row per run (final-round metrics)
    docs/results/<table-name>.csv     mean and std over seeds per (dataset, alpha, method)
    docs/results/<table-name>.md      the same as a markdown table (default name: personalization)
Scopes of the numbers: see docs/personalization.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
METHODS: dict[str, list[str]] = {
    "Local only": ["strategy=local"],
    "FedAvg": ["strategy=fedavg"],
    "FedAvg+FT": ["strategy=fedavg_ft"],
    "FedProx": ["strategy=fedprox"],
    "Ditto": ["strategy=ditto"],
    "FedPer": ["strategy=fedper"],
    "FedRep": ["strategy=fedrep"],
    "pFedSD": ["strategy=pfedsd"],
    "FedCKD": ["strategy=fedckd"],
    "FedCKD λ_global=0": ["strategy=fedckd", "strategy.lambda_global=0"],
    "FedCKD λ_historical=0": ["strategy=fedckd", "strategy.lambda_historical=0"],
}
# Sensitivity of FedCKD to its own choices (run with --methods ...; not part of the default table).
VARIANTS: dict[str, list[str]] = {
    "FedCKD init=historical": ["strategy=fedckd", "strategy.student_init=historical"],
    "FedCKD T=3": ["strategy=fedckd", "strategy.temperature=3"],
    "FedCKD λ_global=0.3": ["strategy=fedckd", "strategy.lambda_global=0.3"],
    "FedCKD first=ce_only": ["strategy=fedckd", "strategy.first_participation=ce_only"],
}
ALL_METHODS = METHODS | VARIANTS
DATASETS: dict[str, list[str]] = {
    "digits": ["dataset=digits", "lowres=none"],
    "faces": ["dataset=faces", "dataset.num_identities=100", "lowres=lr16"],
}
METRICS = ("personal_accuracy_client_mean", "personal_accuracy_client_std", "personal_accuracy_worst10",
           "global_accuracy", "seconds_total")


def run_key(dataset: str, alpha: float, method: str, seed: int, tag: str = "") -> str:
    slug = "".join(c if c.isalnum() else "_" for c in method.replace("λ", "l"))
    return f"{dataset}-a{alpha}-{slug}-s{seed}" + (f"-{tag}" if tag else "")


def one_run(job: dict[str, Any]) -> dict[str, Any]:
    """Compose, validate and run one job in this (worker) process; returns its final metrics."""
    import torch

    from fedkd.app.experiment_config import load_federated
    from fedkd.app.inprocess import run_in_process

    torch.set_num_threads(1)
    out = Path(job["out"])
    config = load_federated(job["overrides"])
    with open(out / "logs" / f"{job['key']}.log", "w") as log, contextlib.redirect_stderr(log):
        path = run_in_process(config, output_root=out / "runs")
    summary = json.loads((path / "summary.json").read_text())
    row = {k: job[k] for k in ("key", "dataset", "alpha", "method", "seed")}
    row |= {k: summary["final"].get(k, float("nan")) for k in METRICS if k != "seconds_total"}
    row |= {"seconds_total": summary["seconds_total"], "run_dir": str(path)}
    tmp = out / "done" / f"{job['key']}.json.tmp"
    tmp.write_text(json.dumps(row))
    tmp.replace(out / "done" / f"{job['key']}.json")
    return row


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v == v]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.pstdev(values) if len(values) > 1 else 0.0)


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for dataset in DATASETS:
        for alpha in sorted({r["alpha"] for r in rows}):
            for method in ALL_METHODS:
                group = [r for r in rows if (r["dataset"], r["alpha"], r["method"]) == (dataset, alpha, method)]
                if not group:
                    continue
                entry: dict[str, Any] = {"dataset": dataset, "alpha": alpha, "method": method, "seeds": len(group)}
                for metric in METRICS:
                    entry[f"{metric}_mean"], entry[f"{metric}_std"] = mean_std([float(r[metric]) for r in group])
                table.append(entry)
    return table


def fmt(mean: float, std: float) -> str:
    return "–" if mean != mean else f"{mean:.3f} ± {std:.3f}"


def markdown(table: list[dict[str, Any]], command: str) -> str:
    lines = [f"Command: `{command}`", "",
             "| dataset | α | method | personal acc (client mean) | personal worst 10% | "
             "global acc (trained clients) | seconds / run |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for e in table:
        lines.append(
            f"| {e['dataset']} | {e['alpha']} | {e['method']} "
            f"| {fmt(e['personal_accuracy_client_mean_mean'], e['personal_accuracy_client_mean_std'])} "
            f"| {fmt(e['personal_accuracy_worst10_mean'], e['personal_accuracy_worst10_std'])} "
            f"| {fmt(e['global_accuracy_mean'], e['global_accuracy_std'])} "
            f"| {e['seconds_total_mean']:.0f} |")
    lines.append("")
    lines.append("Each cell: mean ± std over seeds (std across seeds, not across clients).")
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.1, 0.5])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(ALL_METHODS))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--evaluate-every", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "personalization")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--table-name", default="personalization", help="file stem of the docs tables")
    parser.add_argument("--tag", default="", help="suffix of the run keys, for runs with --extra overrides")
    parser.add_argument("--extra", nargs="*", default=[], help="Hydra overrides added to every run")
    args = parser.parse_args()
    if args.extra and not args.tag:
        parser.error("--extra needs --tag, so that its runs are not mistaken for cached runs without it")
    for sub in ("runs", "logs", "done"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    common = ["simulation.num_clients=20", "simulation.fraction_train=0.5", "simulation.fraction_evaluate=1.0",
              "simulation.backend=inprocess", f"simulation.evaluate_every={args.evaluate_every}",
              "partition=dirichlet", f"num_rounds={args.rounds}"]
    jobs = []
    for dataset in args.datasets:
        for alpha in args.alphas:
            for method in args.methods:
                for seed in args.seeds:
                    key = run_key(dataset, alpha, method, seed, args.tag)
                    overrides = [*common, *DATASETS[dataset], *ALL_METHODS[method], f"partition.alpha={alpha}",
                                 f"seed={seed}", f"output.name={key}", *args.extra]
                    jobs.append({"key": key, "dataset": dataset, "alpha": alpha, "method": method, "seed": seed,
                                 "overrides": overrides, "out": str(args.out)})
    rows = [json.loads(p.read_text()) for p in (args.out / "done").glob("*.json")]
    done = {r["key"] for r in rows}
    todo = [j for j in jobs if j["key"] not in done]
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} cached, {len(todo)} to run on {args.workers} workers",
          flush=True)
    started = time.perf_counter()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(one_run, job) for job in todo]
        for count, future in enumerate(as_completed(futures), 1):
            row = future.result()
            rows.append(row)
            elapsed = time.perf_counter() - started
            eta = elapsed / count * (len(todo) - count)
            print(f"[{count}/{len(todo)}] {row['key']}: personal {row['personal_accuracy_client_mean']:.3f} "
                  f"global {row['global_accuracy']:.3f} ({row['seconds_total']:.0f} s; eta {eta / 60:.0f} min)",
                  flush=True)
    wanted = {j["key"] for j in jobs}
    rows = sorted((r for r in rows if r["key"] in wanted), key=lambda r: r["key"])
    write_csv(args.out / "runs.csv", rows)
    table = aggregate(rows)
    write_csv(args.docs / f"{args.table_name}.csv", table)
    command = "python benchmarks/personalization_comparison.py " + " ".join(sys.argv[1:])
    (args.docs / f"{args.table_name}.md").write_text(markdown(table, command.strip()) + "\n")
    print(markdown(table, command.strip()))


if __name__ == "__main__":
    main()
