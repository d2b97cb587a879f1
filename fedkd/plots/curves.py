"""Learning curves of several federated runs in one figure: one line per method (runs that differ only in
their seed form one line), mean ± std over the seeds at each evaluated round, one panel per metric. Writes
PNG, SVG and the CSV of the plotted points."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np

from fedkd.errors import UserError
from fedkd.plots.run_records import RunRecord
from fedkd.results.curves import save_figure, series

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DEFAULT_METRICS = ("personal_accuracy_client_mean", "global_accuracy")
CSV_COLUMNS = ("metric", "line", "round", "mean", "std", "seeds")
MAX_LABEL_KEYS = 3


@dataclass(frozen=True)
class CurvePoint:
    metric: str
    line: str
    round: int
    mean: float
    std: float
    seeds: int


def read_rounds(path: Path) -> list[dict[str, str]]:
    with open(path / "rounds.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def line_labels(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Runs grouped by their settings (seed aside), labelled by method; settings that tell two groups of the
    same method apart are added to the label (`strategy.*` ones first, at most MAX_LABEL_KEYS)."""
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[json.dumps(r.settings, sort_keys=True, default=str)].append(r)
    by_method: dict[str, list[list[RunRecord]]] = defaultdict(list)
    for runs in groups.values():
        by_method[runs[0].method].append(runs)
    labelled = {}
    for method, variants in by_method.items():
        for runs in variants:
            differing = sorted(k for k in {k for v in variants for k in v[0].settings}
                               if len({json.dumps(v[0].settings.get(k), default=str) for v in variants}) > 1)
            shown = [k for k in differing if k.startswith("strategy.")] or differing
            extra = ", ".join(f"{k}={runs[0].settings.get(k)}" for k in shown[:MAX_LABEL_KEYS])
            extra += ", …" if len(shown) > MAX_LABEL_KEYS else ""
            labelled[f"{method} ({extra})" if extra else method] = runs
    return labelled


def curve_points(lines: dict[str, list[RunRecord]], metrics: tuple[str, ...]) -> list[CurvePoint]:
    """Mean ± std over a line's runs at every round that all of them evaluated."""
    points = []
    for label, runs in lines.items():
        tables = [read_rounds(r.path) for r in runs]
        for metric in metrics:
            per_run = [dict(zip(*series(rows, metric), strict=True)) for rows in tables]
            common = sorted(set.intersection(*(set(p) for p in per_run)))
            for rnd in common:
                values = [p[rnd] for p in per_run]
                points.append(CurvePoint(metric, label, rnd, float(np.mean(values)), float(np.std(values)),
                                         len(values)))
    return points


def write_csv(points: list[CurvePoint], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([p.metric, p.line, p.round, p.mean, p.std, p.seeds] for p in points)


def draw(points: list[CurvePoint], metrics: tuple[str, ...], out: Path, title: str) -> list[Path]:
    shown = [m for m in metrics if any(p.metric == m for p in points)]
    if not shown:
        raise UserError(f"none of the runs has the metric(s) {', '.join(metrics)} in rounds.csv; check --metric")
    fig, axes = plt.subplots(1, len(shown), figsize=(5.5 * len(shown), 4), squeeze=False)
    for ax, metric in zip(axes[0], shown, strict=True):
        for line in dict.fromkeys(p.line for p in points if p.metric == metric):
            mine = [p for p in points if p.metric == metric and p.line == line]
            x = [p.round for p in mine]
            mean = np.array([p.mean for p in mine])
            std = np.array([p.std for p in mine])
            ax.plot(x, mean, marker="o", markersize=3, label=f"{line} (n={mine[0].seeds})")
            ax.fill_between(x, mean - std, mean + std, alpha=0.15)
        ax.set(xlabel="round", ylabel=metric, title=metric)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    return save_figure(fig, out, title)
