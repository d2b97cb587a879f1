"""Summaries of a finished run: final metrics and a short markdown table."""

from __future__ import annotations

from typing import Any

from fedkd.results.round_metrics import __doc__ as METRIC_SCOPES

NAN = float("nan")


def summarize(config: dict[str, Any], rounds: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    evaluated = [r for r in rounds if "personal_accuracy" in r]
    last = evaluated[-1] if evaluated else {}
    summary = {
        "dataset": config["dataset"]["name"],
        "strategy": config["strategy"]["name"],
        "partition": config["partition"]["name"],
        "num_clients": config["simulation"]["num_clients"],
        "num_rounds": config["num_rounds"],
        "seed": config["seed"],
        "seconds_total": round(sum(r["seconds"] for r in rounds), 2),
        "final_round_evaluated": last.get("round"),
        "final": {k: v for k, v in last.items() if k not in ("round", "seconds")},
        "best_personal_accuracy_client_mean": max(
            (r["personal_accuracy_client_mean"] for r in evaluated), default=None),
        "metric_scope": " ".join((METRIC_SCOPES or "").split()),
    }
    header = ("| round | train loss | personal acc (client mean ± std) | personal worst 10% "
              "| global acc (trained clients) | global acc (unseen clients) | s |")
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in evaluated:
        lines.append(
            f"| {r['round']} | {r.get('train_loss', NAN):.3f} "
            f"| {r['personal_accuracy_client_mean']:.3f} ± {r['personal_accuracy_client_std']:.3f} "
            f"| {r['personal_accuracy_worst10']:.3f} | {r.get('global_accuracy', NAN):.3f} "
            f"| {r.get('global_accuracy_unseen', NAN):.3f} | {r['seconds']:.1f} |"
        )
    return summary, "\n".join(lines)
