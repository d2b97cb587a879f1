"""Summaries of a finished run: final metrics and a short markdown table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedkd.results.round_metrics import METRIC_SCOPE


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def summarize(run: Mapping[str, Any], rounds: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """summary.json (what `run` says the run was: data set, strategy, ..., then its final metrics) and the
    markdown table of the evaluated rounds."""
    evaluated = [r for r in rounds if "personal_accuracy" in r]
    last = evaluated[-1] if evaluated else {}
    summary = {
        **run,
        "seconds_total": round(sum(r["seconds"] for r in rounds), 2),
        "final_round_evaluated": last.get("round"),
        "final": {k: v for k, v in last.items() if k not in ("round", "seconds")},
        "best_personal_accuracy_client_mean": max(
            (r["personal_accuracy_client_mean"] for r in evaluated), default=None),
        "metric_scope": METRIC_SCOPE,
    }
    header = ("| round | train loss | personal acc (client mean ± std) | personal worst 10% "
              "| global acc (trained clients) | global acc (unseen clients) | s |")
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in evaluated:
        lines.append(
            f"| {r['round']} | {_cell(r.get('train_loss'))} "
            f"| {r['personal_accuracy_client_mean']:.3f} ± {r['personal_accuracy_client_std']:.3f} "
            f"| {r['personal_accuracy_worst10']:.3f} | {_cell(r.get('global_accuracy'))} "
            f"| {_cell(r.get('global_accuracy_unseen'))} | {r['seconds']:.1f} |"
        )
    return summary, "\n".join(lines)
