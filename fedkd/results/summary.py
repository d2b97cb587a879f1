"""Summaries of a finished run: final metrics and a short markdown table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedkd.results.round_metrics import METRIC_SCOPE

VERIFICATION = "personal_verification_accuracy_client_mean"


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def summarize(run: Mapping[str, Any], rounds: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """summary.json (what `run` says the run was: data set, strategy, ..., then its final metrics) and the
    markdown table of the evaluated rounds."""
    evaluated = [r for r in rounds if "personal_accuracy" in r]
    last = evaluated[-1] if evaluated else {}
    best = max(evaluated, key=lambda r: r["personal_accuracy_client_mean"], default={})
    summary = {
        **run,
        "seconds_total": round(sum(r["seconds"] for r in rounds), 2),
        "final_round_evaluated": last.get("round"),
        "final": {k: v for k, v in last.items() if k not in ("round", "seconds")},
        "best_personal_accuracy_client_mean": best.get("personal_accuracy_client_mean"),
        "best_round": best.get("round"),  # the pFedSD report: best evaluated round, chosen on the evaluated split
        "metric_scope": METRIC_SCOPE,
    }
    verification = VERIFICATION in last
    header = ("| round | train loss | personal acc (client mean ± std) | personal worst 10% "
              "| global acc (trained clients) | global acc (unseen clients) |"
              + (" verification personal (mean ± std) | verification global |" if verification else "") + " s |")
    lines = [header, "|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if verification else "") + "---:|"]
    for r in evaluated:
        faces = (f" {r[VERIFICATION]:.3f} ± {r[VERIFICATION.replace('_mean', '_std')]:.3f} "
                 f"| {_cell(r.get('global_verification_accuracy'))} |") if verification else ""
        lines.append(
            f"| {r['round']} | {_cell(r.get('train_loss'))} "
            f"| {r['personal_accuracy_client_mean']:.3f} ± {r['personal_accuracy_client_std']:.3f} "
            f"| {r['personal_accuracy_worst10']:.3f} | {_cell(r.get('global_accuracy'))} "
            f"| {_cell(r.get('global_accuracy_unseen'))} |{faces} {r['seconds']:.1f} |"
        )
    return summary, "\n".join(lines)
