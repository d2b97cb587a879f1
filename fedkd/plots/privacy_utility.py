"""Privacy–utility curves: ε (log axis) against a utility metric, mean ± std over seeds, one line per method
and privacy mode, the non-private result of each method as a reference line. Writes PNG, SVG and the CSV
of the plotted points.

Runs of a mechanism without a formal guarantee (projection perturbation, ε = null) are left out and named.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np

from fedkd.errors import UserError
from fedkd.plots.run_records import RunRecord

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PRIVACY_KEYS = ("privacy.", "gen_privacy.")
FEDERATED_METRICS = ("personal_accuracy_client_mean",)
GENERATOR_METRICS = ("cnn_accuracy", "frechet_distance")
CSV_COLUMNS = ("metric", "method", "mode", "setting", "epsilon_mean", "epsilon_std", "value_mean", "value_std",
               "seeds", "delta", "accountant", "scope")


@dataclass(frozen=True)
class Point:
    metric: str
    method: str
    mode: str          # none for the reference lines
    setting: str
    epsilon_mean: float | None
    epsilon_std: float | None
    value_mean: float
    value_std: float
    seeds: int
    delta: float | None
    accountant: str | None
    scope: str

    @property
    def line(self) -> str:
        return f"{self.method} (client-level)" if self.mode == "client" else self.method


def split_formal(records: list[RunRecord]) -> tuple[list[RunRecord], list[RunRecord]]:
    """(runs with a formal guarantee or none at all, runs of an unproven mechanism)."""
    return [r for r in records if r.formal], [r for r in records if not r.formal]


def aggregate(records: list[RunRecord], metrics: tuple[str, ...]) -> list[Point]:
    """Mean ± std over seeds of ε and each metric: one point per distinct configuration (seed aside)."""
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[json.dumps([r.method, r.mode, r.settings], sort_keys=True, default=str)].append(r)
    _one_setup_per_method([runs[0] for runs in groups.values()])
    points = []
    for runs in groups.values():
        first = runs[0]
        private = first.mode != "none"
        if private and any(r.epsilon is None for r in runs):
            raise UserError(f"run {first.path} has privacy mode {first.mode} but no ε; its accounting did not finish")
        for metric in metrics:
            values = [r.metrics[metric] for r in runs if metric in r.metrics]
            if not values:
                continue
            eps = np.array([r.epsilon for r in runs], dtype=float) if private else None
            points.append(Point(metric, first.method, first.mode, first.setting,
                                float(eps.mean()) if private else None, float(eps.std()) if private else None,
                                float(np.mean(values)), float(np.std(values)), len(values),
                                first.delta, first.accountant, first.scope))
    return sorted(points, key=lambda p: (p.metric, p.method, p.mode, p.epsilon_mean or 0.0))


def _one_setup_per_method(representatives: list[RunRecord]) -> None:
    """Two configurations of one method with the same privacy settings would be two points the figure cannot
    tell apart (an ablation, another data set): refused. Other settings may change with the privacy level
    (hyper-parameters tuned per ε); that is said on stderr."""
    seen: dict[tuple[str, str, str], RunRecord] = {}
    for run in representatives:
        privacy = json.dumps({k: v for k, v in run.settings.items() if k.startswith(PRIVACY_KEYS)}, sort_keys=True)
        twin = seen.setdefault((run.method, run.mode, privacy), run)
        if twin is not run:
            differing = sorted(k for k in run.settings.keys() | twin.settings.keys()
                               if run.settings.get(k) != twin.settings.get(k))
            raise UserError(f"runs {twin.path.name} and {run.path.name} ({run.method}) have the same privacy "
                            f"settings but differ in {differing[0]}; plot them separately (pass fewer run folders)")
    for method in sorted({r.method for r in representatives}):
        runs = [r for r in representatives if r.method == method]
        varying = sorted({k for r in runs for k in r.settings if not k.startswith(PRIVACY_KEYS)
                          and r.settings.get(k) != runs[0].settings.get(k)})
        if varying:
            print(f"note: {method}: the points also differ in {', '.join(varying)}", file=sys.stderr)


def write_csv(points: list[Point], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for p in points:
            writer.writerow({c: getattr(p, c) for c in CSV_COLUMNS})


def _axis_label(points: list[Point]) -> str:
    private = [p for p in points if p.mode != "none"]
    deltas = sorted({p.delta for p in private if p.delta is not None})
    accountants = sorted({str(p.accountant) for p in private})
    modes = sorted({f"{p.mode}-level" for p in private})
    delta = f"δ = {deltas[0]:g}" if len(deltas) == 1 else "δ per line (see CSV)"
    return f"ε (log scale), {delta}, {', '.join(modes)}; accountant {', '.join(accountants)}"


def draw(points: list[Point], out: Path, title: str, metrics: tuple[str, ...]) -> list[Path]:
    """One panel per metric (in the order given); returns the PNG and SVG paths."""
    metrics = tuple(m for m in metrics if any(p.metric == m for p in points))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(p.line for p in points))}
    for ax, metric in zip(axes[0], metrics, strict=True):
        mine = [p for p in points if p.metric == metric]
        private = [p for p in mine if p.mode != "none"]
        for line in dict.fromkeys(p.line for p in private):
            pts = sorted((p for p in private if p.line == line), key=lambda p: p.epsilon_mean)
            ax.errorbar([p.epsilon_mean for p in pts], [p.value_mean for p in pts],
                        xerr=[p.epsilon_std for p in pts], yerr=[p.value_std for p in pts], marker="o", capsize=3,
                        color=colours[line], label=f"{line} (n={min(p.seeds for p in pts)} seeds)")
        for ref in (p for p in mine if p.mode == "none"):
            colour = colours.get(ref.line, "grey")
            ax.axhline(ref.value_mean, color=colour, linestyle="--", linewidth=1,
                       label=f"{ref.method} non-private ({ref.value_mean:.3f})")
            ax.axhspan(ref.value_mean - ref.value_std, ref.value_mean + ref.value_std, color=colour, alpha=0.08)
        if private:
            ax.set_xscale("log")
            ticks = sorted({float(f"{p.epsilon_mean:.2g}") for p in private})
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(_axis_label(mine))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    paths = [out.with_suffix(".png"), out.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths


def default_metrics(records: list[RunRecord]) -> tuple[str, ...]:
    kinds = {r.kind for r in records}
    if len(kinds) > 1:
        raise UserError("the runs mix federated and generator runs; plot them separately")
    return FEDERATED_METRICS if kinds == {"federated"} else GENERATOR_METRICS


def check_metrics_present(records: list[RunRecord], metrics: tuple[str, ...]) -> None:
    """A metric that some runs have and others lack would make points of fewer seeds than they claim."""
    for metric in metrics:
        lacking = [r for r in records if metric not in r.metrics]
        if lacking and len(lacking) < len(records):
            raise UserError(f"--metric {metric}: {len(lacking)} of {len(records)} runs lack it (e.g. "
                            f"{lacking[0].path}); plot those runs separately or choose a metric every run has")


def finite(points: list[Point]) -> list[Point]:
    """Drop private points whose ε is infinite (a zero noise multiplier)."""
    return [p for p in points if p.epsilon_mean is None or math.isfinite(p.epsilon_mean)]
