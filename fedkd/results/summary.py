"""Summaries of a finished run: final metrics and a short markdown table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def client_spread(accuracies: list[float]) -> dict[str, float]:
    """Unweighted mean and std across clients, and the mean of the worst 10% (at least one)."""
    if not accuracies:
        return {}
    values = np.sort(np.asarray(accuracies, dtype=float))
    worst = values[: max(1, math.ceil(0.1 * len(values)))]
    return {"eval_accuracy_client_mean": float(values.mean()),
            "eval_accuracy_client_std": float(values.std()),
            "eval_accuracy_worst10": float(worst.mean())}


def summarize(config: dict[str, Any], rounds: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    last = rounds[-1] if rounds else {}
    summary = {
        "dataset": config["dataset"]["name"],
        "strategy": config["strategy"]["name"],
        "partition": config["partition"]["name"],
        "num_clients": config["simulation"]["num_clients"],
        "num_rounds": config["num_rounds"],
        "seed": config["seed"],
        "seconds_total": round(sum(r["seconds"] for r in rounds), 2),
        "final": {k: v for k, v in last.items() if k not in ("round", "seconds")},
        "best_eval_accuracy": max((r.get("eval_accuracy", float("nan")) for r in rounds), default=None),
        "metric_scope": ("eval_*: the global model after each round on the test split of every "
                         "evaluating client; eval_accuracy is example-weighted, client_mean/std/worst10 "
                         "are unweighted across those clients"),
    }
    header = "| round | train loss | eval acc (weighted) | client mean ± std | worst 10% | s |"
    lines = [header, "|---:|---:|---:|---:|---:|---:|"]
    for r in rounds:
        lines.append(
            f"| {r['round']} | {r.get('train_loss', float('nan')):.3f} | {r.get('eval_accuracy', float('nan')):.3f} "
            f"| {r.get('eval_accuracy_client_mean', float('nan')):.3f} ± "
            f"{r.get('eval_accuracy_client_std', float('nan')):.3f} | "
            f"{r.get('eval_accuracy_worst10', float('nan')):.3f} | {r['seconds']:.1f} |"
        )
    return summary, "\n".join(lines)
