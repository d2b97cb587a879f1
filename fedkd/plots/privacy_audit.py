"""Claimed ε against the audited lower bound: one marker per audited client (or generator) and run, one colour
per method and mode, the y = x line (a point above it shows a leak beyond the claim) and each audit's ceiling
(the most its canary count, δ and confidence could show). Runs without a claim sit at the right edge."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

from fedkd.errors import UserError
from fedkd.results.curves import save_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt

AUDIT_JSON = "audit.json"


@dataclass(frozen=True)
class AuditPoint:
    run: str
    method: str
    mode: str
    seed: int
    audited: str          # the client's partition id, or "generator"
    claimed_epsilon: float | None
    lower_bound: float
    ceiling: float
    confidence: float
    delta: float
    canary: str
    canaries: int
    guesses: int
    correct: int


def audit_points(runs: list[Path]) -> list[AuditPoint]:
    points = []
    for run in runs:
        path = run / AUDIT_JSON
        if not path.is_file():
            continue
        try:
            report = json.loads(path.read_text())
            points += [AuditPoint(run.name, str(report["method"]), str(report["mode"]), int(report.get("seed", 0)),
                                  str(c.get("partition_id", "generator")), c["claimed_epsilon"],
                                  float(c["epsilon_lower_bound"]), float(c["ceiling"]), float(c["confidence"]),
                                  float(report["delta"]), str(report["canary"]), int(c["num_canaries"]),
                                  int(c["num_guesses"]), int(c["correct_guesses"])) for c in report["clients"]]
        except (ValueError, KeyError, TypeError) as err:
            raise UserError(f"{path} is not a fedkd audit.json ({type(err).__name__}: {err}); re-run that run "
                            "or move it out of the plotted folders") from None
    if not points:
        raise UserError("none of the runs has an audit.json; run them with audit.enabled=true")
    return points


def write_csv(points: list[AuditPoint], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(points[0])))
        writer.writeheader()
        writer.writerows(asdict(p) for p in points)


def _label(point: AuditPoint) -> str:
    return f"{point.method}, {point.mode}, {point.canaries} {point.canary} canaries"


def draw(points: list[AuditPoint], out: Path, title: str) -> list[Path]:
    claimed = [p.claimed_epsilon for p in points if p.claimed_epsilon is not None]
    top = max([*claimed, *(p.ceiling for p in points), 1.0]) * 1.15
    no_claim_x = top
    fig, ax = plt.subplots(figsize=(10.5, 5.0))
    ax.plot([0, top], [0, top], color="black", linewidth=1, label="y = x (above: leak beyond the claim)")
    for ceiling in sorted({round(p.ceiling, 2) for p in points}):
        ax.axhline(ceiling, color="grey", linestyle=":", linewidth=1)
        ax.text(0.02 * top, ceiling, f"ceiling {ceiling:g}", fontsize=7, color="grey", va="bottom")
    lines = list(dict.fromkeys(_label(p) for p in points))
    for i, line in enumerate(lines):
        mine = [p for p in points if _label(p) == line]
        xs = [p.claimed_epsilon if p.claimed_epsilon is not None else no_claim_x for p in mine]
        ax.scatter(xs, [p.lower_bound for p in mine], color=f"C{i}", marker="os^Dvx*"[i % 7], label=line, zorder=3)
    ax.set_xlim(0, top * 1.05)
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("claimed ε (accountant); right edge: no claim")
    ax.set_ylabel(f"audited lower bound on ε ({points[0].confidence:.0%} confidence)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save_figure(fig, out, title)
