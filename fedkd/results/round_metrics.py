"""One round's row of rounds.csv from the clients' train and evaluate replies."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fedkd.protocol.reply import (
    GLOBAL_ACCURACY,
    GLOBAL_LOSS,
    NUM_EXAMPLES,
    PARTICIPATIONS,
    PERSONAL_ACCURACY,
    PERSONAL_LOSS,
    TRAIN_ACCURACY,
    TRAIN_LOSS,
)

METRIC_SCOPE = (
    "personal_*: each evaluating client's own model on its own test split, over all evaluating clients "
    "(every client when fraction_evaluate = 1, sampled this round or not); clients that never trained use "
    "their method's fallback model and personal_accuracy_unseen isolates them. global_*: the server's model "
    "on the test splits of clients that trained at least once; global_accuracy_unseen: the same model on "
    "clients that never trained. *_client_mean/_std/_worst10 are unweighted across clients, the others "
    "example-weighted. See docs/personalization.md."
)


def client_spread(accuracies: list[float], prefix: str) -> dict[str, float]:
    """Unweighted mean and std across clients, and the mean of the worst 10% (at least one)."""
    if not accuracies:
        return {}
    values = np.sort(np.asarray(accuracies, dtype=float))
    worst = values[: max(1, math.ceil(0.1 * len(values)))]
    return {f"{prefix}_client_mean": float(values.mean()),
            f"{prefix}_client_std": float(values.std()),
            f"{prefix}_worst10": float(worst.mean())}


def weighted(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float]:
    """Example-weighted means over the rows that carry `keys` (a client that refused to train has none)."""
    rows = [r for r in rows if all(k in r for k in keys)]
    total = sum(r[NUM_EXAMPLES] for r in rows)
    if total == 0:
        return {}
    return {k: sum(r[k] * r[NUM_EXAMPLES] for r in rows) / total for k in keys}


def round_row(train: list[dict[str, Any]], evaluated: list[dict[str, Any]]) -> dict[str, Any]:
    trained = [r for r in evaluated if r[PARTICIPATIONS] > 0]
    unseen = [r for r in evaluated if r[PARTICIPATIONS] == 0]
    row: dict[str, Any] = {"clients_trained": len(train), "clients_evaluated": len(evaluated),
                           "clients_unseen": len(unseen)}
    row |= weighted(train, (TRAIN_LOSS, TRAIN_ACCURACY))
    row |= weighted(evaluated, (PERSONAL_LOSS, PERSONAL_ACCURACY))
    row |= client_spread([r[PERSONAL_ACCURACY] for r in evaluated], PERSONAL_ACCURACY)
    if unseen:
        row["personal_accuracy_unseen"] = float(np.mean([r[PERSONAL_ACCURACY] for r in unseen]))
    if evaluated and GLOBAL_ACCURACY in evaluated[0]:
        row |= weighted(trained, (GLOBAL_LOSS, GLOBAL_ACCURACY))
        row |= client_spread([r[GLOBAL_ACCURACY] for r in trained], GLOBAL_ACCURACY)
        if unseen:
            row["global_accuracy_unseen"] = float(np.mean([r[GLOBAL_ACCURACY] for r in unseen]))
    return row
