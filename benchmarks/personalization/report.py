"""Tables of the comparison: mean ± std over the report seeds of final- and best-round personal accuracy, and
which differences from the best method of a setting exceed seed noise (paired t-test over the seeds: every method
of a seed sees the same partition, client sampling and initial model)."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Any

from scipy import stats

from benchmarks.personalization.grid import DATASETS, METHODS, PARTITIONS

METRICS = ("final_personal", "best_personal", "final_worst10", "final_global", "final_verification",
           "teacher_historical_accuracy", "teacher_global_accuracy", "student_train_accuracy", "seconds")
NOISE_P = 0.05


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v == v]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def within_noise(best: list[float], other: list[float]) -> bool:
    """True when a paired t-test over the seeds cannot tell `other` from `best` at NOISE_P."""
    if len(best) < 2 or len(best) != len(other):
        return True
    differences = [b - o for b, o in zip(best, other, strict=True)]
    if all(d == differences[0] for d in differences):
        return differences[0] == 0
    return bool(stats.ttest_rel(best, other).pvalue >= NOISE_P)


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (data set, partition, method) with mean/std of every metric, the per-seed values of the final
    personal accuracy, and `noise`: best / within noise of the best / below the best."""
    table = []
    for dataset in DATASETS:
        for partition in PARTITIONS:
            setting = [r for r in rows if (r["dataset"], r["partition"]) == (dataset, partition)]
            entries = []
            for method in METHODS:
                group = sorted((r for r in setting if r["method"] == method), key=lambda r: r["seed"])
                if not group:
                    continue
                entry: dict[str, Any] = {"dataset": dataset, "partition": partition, "method": method,
                                         "seeds": len(group), "per_seed": [r["final_personal"] for r in group]}
                for metric in METRICS:
                    entry[f"{metric}_mean"], entry[f"{metric}_std"] = mean_std([float(r[metric]) for r in group])
                entries.append(entry)
            if entries:
                best = max(entries, key=lambda e: e["final_personal_mean"])
                for e in entries:
                    e["noise"] = "best" if e is best else \
                        "within noise" if within_noise(best["per_seed"], e["per_seed"]) else "below"
            table += entries
    return table


def _cell(entry: dict[str, Any], metric: str) -> str:
    mean, std = entry[f"{metric}_mean"], entry[f"{metric}_std"]
    return "–" if mean != mean else f"{mean:.3f} ± {std:.3f}"


def markdown(table: list[dict[str, Any]], command: str) -> str:
    settings = list(dict.fromkeys((e["dataset"], e["partition"]) for e in table))
    lines = [f"Command: `{command}`", "",
             "Final-round personal accuracy (client mean; mean ± std over the report seeds). **Bold**: best of the "
             "column; plain: within seed noise of it (paired t-test over seeds, p ≥ 0.05); ↓: below it beyond seed "
             "noise.", "",
             "| method | " + " | ".join(f"{d} {p}" for d, p in settings) + " |",
             "|---|" + "---:|" * len(settings)]
    for method, label in METHODS.items():
        cells = []
        for dataset, partition in settings:
            (entry,) = [e for e in table if (e["dataset"], e["partition"], e["method"]) == (dataset, partition,
                                                                                          method)] or [None]
            if entry is None:
                cells.append("–")
                continue
            text = _cell(entry, "final_personal")
            cells.append(f"**{text}**" if entry["noise"] == "best" else f"{text} ↓" if entry["noise"] == "below"
                         else text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Every cell in full (best round: the evaluated round with the highest personal accuracy on the test "
              "split, the pFedSD report, optimistic by construction):", "",
              "| data | partition | method | seeds | final personal | best-round personal | final worst 10% | "
              "final global | final verification (personal) | s / run |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for e in table:
        lines.append(f"| {e['dataset']} | {e['partition']} | {METHODS[e['method']]} | {e['seeds']} "
                     f"| {_cell(e, 'final_personal')} | {_cell(e, 'best_personal')} | {_cell(e, 'final_worst10')} "
                     f"| {_cell(e, 'final_global')} | {_cell(e, 'final_verification')} | {e['seconds_mean']:.0f} |")
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
