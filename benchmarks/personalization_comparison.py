"""The personalized-FL comparison: every method tuned on validation splits with the same trial budget, then
reported on test splits over seeds the tuning never used.

Usage: python benchmarks/personalization_comparison.py [--stage defaults|tune|report|tables|all] [--datasets ...]
           [--methods ...] [--trials 8] [--workers 2] [--max-minutes 50] [--out results/personalization]

Stage `defaults` (run once, before tuning) measures FedCKD's set-up choices on validation: teacher
normalisation, the round-1 global teacher and the first participation, the full grid. Stage `tune` runs
fedkd-tune's search (fedkd/tuning) for every (data set, method) on one partition (grid.TUNING_PARTITION) and one
seed (grid.TUNING_SEED): `train.lr` plus the method's own hyper-parameters, `--trials` trials each, median-pruned
per evaluated round. Stage `report` runs every (data set, partition, method, report seed) with the tuned values.
Stage `tables` writes docs/results/personalization.{md,csv}, docs/results/personalization_tuned.md and
docs/figures/personalization.{png,svg}. Everything is cached under --out (tuning journals, finished runs):
re-running resumes, and `--max-minutes` stops starting new work after
that long, so the comparison can be finished in pieces.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.personalization import figure, report  # noqa: E402
from benchmarks.personalization.grid import (  # noqa: E402
    DATASETS,
    METHODS,
    PARTITIONS,
    REPORT_SEEDS,
    TUNING_PARTITION,
    TUNING_SEED,
    Run,
    tuning_overrides,
)

DIAGNOSTICS = {"teacher_historical_accuracy": "teacher_historical_accuracy",
               "teacher_global_accuracy": "teacher_global_accuracy", "student_train_accuracy": "train_accuracy"}


def tuned_overrides(out: Path, dataset: str, method: str) -> list[str] | None:
    best = out / "tuning" / f"{dataset}-{method}" / "best.json"
    return json.loads(best.read_text())["overrides"] if best.is_file() else None


def stage_tune(args: argparse.Namespace, deadline: float) -> None:
    from fedkd.tuning.study import TuningJob, tune

    for dataset in args.datasets:
        for method in args.methods:
            if time.monotonic() > deadline:
                print("--max-minutes reached; re-run to continue", flush=True)
                return
            name = f"{dataset}-{method}"
            job = TuningJob(name, tuning_overrides(dataset, method), args.out / "tuning" / name, args.trials,
                            seed=TUNING_SEED)
            best = tune(job, args.workers)
            print(f"tuned {name}: {best['value']:.3f} on validation with {' '.join(best['overrides'])} "
                  f"({best['complete']} complete, {best['pruned']} pruned, {best['seconds']:.0f} s)", flush=True)


DEFAULT_CHOICES = {"strategy.teacher_norm": ("eval", "train", "reestimate"),
                   "strategy.global_teacher_from_round": (1, 2),
                   "strategy.first_participation": ("global_teacher", "ce_only")}


def stage_defaults(args: argparse.Namespace) -> None:
    """FedCKD's set-up choices (teacher normalisation, round-1 global teacher, first participation) on validation:
    the full grid at the shipped λ, T and learning rate, on the tuning partition and seed."""
    from fedkd.config.search_space import Choice
    from fedkd.tuning.study import TuningJob, tune

    grid = {k: Choice(v) for k, v in DEFAULT_CHOICES.items()}
    size = 1
    for values in DEFAULT_CHOICES.values():
        size *= len(values)
    for dataset in args.datasets:
        name = f"{dataset}-fedckd-defaults"
        job = TuningJob(name, tuning_overrides(dataset, "fedckd"), args.out / "defaults" / name, size,
                        sampler="grid", pruner="none", seed=TUNING_SEED, extra=grid, method_space=False)
        best = tune(job, args.workers)
        print(f"{name}: best {best['value']:.3f} with {' '.join(best['overrides'])}", flush=True)


def defaults_table(out: Path) -> str:
    lines = ["FedCKD's set-up choices on validation (tuning partition and seed, shipped λ, T, lr); final-round "
             "personal validation accuracy per combination.", ""]
    for path in sorted((out / "defaults").glob("*/trials.csv")):
        with open(path) as fh:
            trials = [t for t in csv.DictReader(fh) if t["state"] == "COMPLETE"]
        keys = list(DEFAULT_CHOICES)
        lines += [f"{path.parent.name.removesuffix('-fedckd-defaults')}:", "",
                  "| " + " | ".join(k.removeprefix("strategy.") for k in keys) + " | validation |",
                  "|" + "---|" * len(keys) + "---:|"]
        for t in sorted(trials, key=lambda t: -float(t["value"])):
            lines.append("| " + " | ".join(t[k] for k in keys) + f" | {float(t['value']):.3f} |")
        lines.append("")
    return "\n".join(lines)


def _last_quarter_means(path: Path, num_rounds: int) -> dict[str, float]:
    """Diagnostics over the train replies of the last quarter of rounds (NaN where the method has no teacher)."""
    with open(path / "clients.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["phase"] == "train" and int(r["round"]) > 0.75 * num_rounds]
    means = {}
    for name, column in DIAGNOSTICS.items():
        values = [float(r[column]) for r in rows if r.get(column) not in (None, "", "nan")]
        means[name] = sum(values) / len(values) if values else float("nan")
    return means


def one_run(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    from fedkd.app.experiment_config import load_federated
    from fedkd.app.inprocess import run_in_process

    torch.set_num_threads(1)
    out = Path(job["out"])
    config = load_federated(job["overrides"])
    with open(out / "logs" / f"{job['key']}.log", "w") as log, contextlib.redirect_stderr(log):
        path = run_in_process(config, output_root=out / "runs")
    summary = json.loads((path / "summary.json").read_text())
    final = summary["final"]
    row = {k: job[k] for k in ("key", "dataset", "partition", "method", "seed")}
    row |= {"final_personal": final["personal_accuracy_client_mean"],
            "best_personal": summary["best_personal_accuracy_client_mean"], "best_round": summary["best_round"],
            "final_worst10": final["personal_accuracy_worst10"], "final_global": final.get("global_accuracy", "nan"),
            "final_verification": final.get("personal_verification_accuracy_client_mean", "nan")}
    row |= _last_quarter_means(path, config.num_rounds)
    row |= {"seconds": summary["seconds_total"], "run_dir": str(path), "overrides": job["overrides"]}
    tmp = out / "done" / f"{job['key']}.json.tmp"
    tmp.write_text(json.dumps(row))
    tmp.replace(out / "done" / f"{job['key']}.json")
    return row


def finished_runs(out: Path) -> dict[str, list[str]]:
    """Each finished report run's key and the overrides it ran with."""
    return {p.stem: json.loads(p.read_text())["overrides"] for p in (out / "done").glob("*.json")}


def stage_report(args: argparse.Namespace, deadline: float) -> None:
    done = finished_runs(args.out)
    jobs, untuned = [], set()
    for dataset in args.datasets:
        for method in args.methods:
            tuned = tuned_overrides(args.out, dataset, method)
            if tuned is None:
                untuned.add(f"{dataset}-{method}")
                continue
            for partition in args.partitions:
                for seed in REPORT_SEEDS:
                    run = Run(dataset, partition, method, seed)
                    if done.get(run.key) != run.overrides(tuned):  # not run yet, or run before a re-tuning
                        jobs.append({"key": run.key, "dataset": dataset, "partition": partition, "method": method,
                                     "seed": seed, "overrides": run.overrides(tuned), "out": str(args.out)})
    if untuned:
        print(f"not tuned yet (run --stage tune first): {', '.join(sorted(untuned))}", flush=True)
    print(f"{len(jobs)} report runs to do on {args.workers} workers", flush=True)
    started = time.perf_counter()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        pending, queue, count = set(), list(jobs), 0
        while queue or pending:
            while queue and len(pending) < args.workers and time.monotonic() < deadline:
                pending.add(pool.submit(one_run, queue.pop(0)))
            if not pending:
                print(f"--max-minutes reached with {len(queue)} runs left; re-run to continue", flush=True)
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                row = future.result()
                count += 1
                elapsed = time.perf_counter() - started
                print(f"[{count}/{len(jobs)}] {row['key']}: personal {row['final_personal']:.3f} (best round "
                      f"{row['best_personal']:.3f}) ({row['seconds']:.0f} s; {elapsed / 60:.0f} min)", flush=True)


def tuned_table(out: Path, datasets: list[str], methods: list[str]) -> str:
    lines = [f"Tuned on {TUNING_PARTITION}, seed {TUNING_SEED}, validation split; value = final-round personal "
             "validation accuracy of the chosen trial.", "",
             "| data | method | chosen | validation | complete / pruned trials | tuning s |",
             "|---|---|---|---:|---:|---:|"]
    for dataset in datasets:
        for method in methods:
            path = out / "tuning" / f"{dataset}-{method}" / "best.json"
            if path.is_file():
                b = json.loads(path.read_text())
                lines.append(f"| {dataset} | {METHODS[method]} | `{' '.join(b['overrides'])}` | {b['value']:.3f} "
                             f"| {b['complete']} / {b['pruned']} | {b['seconds']:.0f} |")
    return "\n".join(lines)


def finished_rows(out: Path, datasets: list[str]) -> list[dict[str, Any]]:
    """The rows of the finished runs under `out` on the given data sets, in key order."""
    return [r for r in (json.loads(p.read_text()) for p in sorted((out / "done").glob("*.json")))
            if r["dataset"] in datasets]


def stage_tables(args: argparse.Namespace) -> None:
    rows = finished_rows(args.out, args.datasets)
    if not rows:
        print("no finished report runs yet", flush=True)
        return
    report.write_csv(args.out / "runs.csv", [r | {"overrides": " ".join(r["overrides"])} for r in rows])
    table = report.aggregate(rows)
    report.write_csv(args.docs / "personalization.csv", [{k: v for k, v in e.items() if k != "per_seed"}
                                                          for e in table])
    command = "python benchmarks/personalization_comparison.py " + " ".join(sys.argv[1:])
    text = report.markdown(table, command.strip())
    (args.docs / "personalization.md").write_text(text + "\n")
    (args.docs / "personalization_tuned.md").write_text(tuned_table(args.out, list(DATASETS), list(METHODS)) + "\n"
                                                        + "\n" + defaults_table(args.out) + "\n")
    for path in figure.draw(table, args.figures / "personalization"):
        print(path)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("defaults", "tune", "report", "tables", "all"), default="all")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--partitions", nargs="+", default=list(PARTITIONS), choices=list(PARTITIONS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--trials", type=int, default=8, help="trial budget per method and data set")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=float("inf"), help="start no new work after this long")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "personalization")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures")
    args = parser.parse_args()
    for sub in ("runs", "logs", "done", "tuning", "defaults"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 60 * args.max_minutes
    if args.stage == "defaults":
        stage_defaults(args)
    if args.stage in ("tune", "all"):
        stage_tune(args, deadline)
    if args.stage in ("report", "all"):
        stage_report(args, deadline)
    if args.stage in ("tables", "all"):
        stage_tables(args)


if __name__ == "__main__":
    main()
