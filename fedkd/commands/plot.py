"""`fedkd-plot`: figures from finished runs.

    fedkd-plot privacy-utility RUNS... [--metric M ...] [--out PATH] [--title TEXT]
    fedkd-plot curves RUNS... [--metric M ...] [--out PATH] [--title TEXT]
    fedkd-plot privacy-audit RUNS... [--out PATH] [--title TEXT]

RUNS are run directories or folders holding them (a Hydra sweep folder). Writes PATH.png, PATH.svg and
PATH.csv (the plotted points); PATH defaults to <first RUNS folder>/privacy_utility or .../curves.
`curves` overlays federated runs' rounds.csv: one line per method, mean ± std over seeds. `privacy-audit` plots
each audited run's claimed ε against its audited lower bound (audit.json), with the y = x line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fedkd.commands.skeleton import user_errors
from fedkd.errors import UserError
from fedkd.plots.curves import DEFAULT_METRICS, curve_points, line_labels
from fedkd.plots.curves import draw as draw_curves
from fedkd.plots.curves import write_csv as write_curve_csv
from fedkd.plots.privacy_audit import audit_points
from fedkd.plots.privacy_audit import draw as draw_audit
from fedkd.plots.privacy_audit import write_csv as write_audit_csv
from fedkd.plots.privacy_utility import (
    aggregate,
    check_metrics_present,
    default_metrics,
    draw,
    finite,
    split_formal,
    write_csv,
)
from fedkd.plots.run_records import find_runs, read_run


def privacy_utility(runs: list[Path], metrics: list[str] | None, out: Path | None, title: str | None) -> list[Path]:
    records = [read_run(p) for p in find_runs(runs)]
    kept, unproven = split_formal(records)
    for r in unproven:
        print(f"left out (not a formal DP guarantee, no ε): {r.path}", file=sys.stderr)
    if not kept:
        raise UserError("every run found uses a mechanism without a formal DP guarantee; nothing to plot")
    defaults = default_metrics(kept)  # also refuses a mix of federated and generator runs
    chosen = tuple(metrics) if metrics else defaults
    check_metrics_present(kept, chosen)
    points = finite(aggregate(kept, chosen))
    if not points:
        raise UserError(f"none of the runs has the metric(s) {', '.join(chosen)}; check --metric")
    out = out or (runs[0] if runs[0].is_dir() else runs[0].parent) / "privacy_utility"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(points, out.with_suffix(".csv"))
    paths = draw(points, out, title or f"privacy–utility, {len(records) - len(unproven)} runs", chosen)
    return [*paths, out.with_suffix(".csv")]


def curves(runs: list[Path], metrics: list[str] | None, out: Path | None, title: str | None) -> list[Path]:
    records = [r for r in (read_run(p) for p in find_runs(runs)) if r.kind == "federated"]
    if not records:
        raise UserError("no federated runs found; curves plot fedkd-sim runs (rounds.csv)")
    chosen = tuple(metrics) if metrics else DEFAULT_METRICS
    points = curve_points(line_labels(records), chosen)
    out = out or (runs[0] if runs[0].is_dir() else runs[0].parent) / "curves"
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = draw_curves(points, chosen, out, title or f"learning curves, {len(records)} runs")
    write_curve_csv(points, out.with_suffix(".csv"))
    return [*paths, out.with_suffix(".csv")]


def privacy_audit(runs: list[Path], metrics: list[str] | None, out: Path | None, title: str | None) -> list[Path]:
    if metrics:
        raise UserError("fedkd-plot privacy-audit takes no --metric (it plots claimed ε against the audited bound)")
    points = audit_points(find_runs(runs))
    out = out or (runs[0] if runs[0].is_dir() else runs[0].parent) / "privacy_audit"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_audit_csv(points, out.with_suffix(".csv"))
    paths = draw_audit(points, out, title or f"privacy audit, {len(points)} audited releases")
    return [*paths, out.with_suffix(".csv")]


COMMANDS = {"privacy-utility": privacy_utility, "curves": curves, "privacy-audit": privacy_audit}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fedkd-plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary, metric in (
        ("privacy-utility", "ε against utility, mean ± std over seeds",
         "a final-round (federated) or metrics.json (generator) key"),
        ("curves", "metrics per round, one line per method, mean ± std over seeds",
         "a rounds.csv column (default: personal_accuracy_client_mean and global_accuracy)"),
        ("privacy-audit", "claimed ε against the audited lower bound (runs with audit.enabled=true)", "not used"),
    ):
        sub = commands.add_parser(name, help=summary)
        sub.add_argument("runs", nargs="+", type=Path)
        sub.add_argument("--metric", action="append", help=f"{metric}; repeat for several panels")
        sub.add_argument("--out", type=Path, help="output path without suffix")
        sub.add_argument("--title")
    args = parser.parse_args(argv)
    command = COMMANDS[args.command]
    with user_errors():
        written = command(args.runs, args.metric, args.out, args.title)
    for path in written:
        print(path)
