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
    PERSONAL_PREFIX,
    TRAIN_ACCURACY,
    TRAIN_LOSS,
    loss_key,
)

METRIC_SCOPE = (
    "personal_*: each evaluating client's own model on its own evaluation split (its test split; its validation "
    "split under simulation.evaluate_split=validation, see evaluate_split), over all evaluating clients "
    "(every client when fraction_evaluate = 1, sampled this round or not); clients that never trained use "
    "their method's fallback model and personal_accuracy_unseen isolates them. global_*: the server's model "
    "on the test splits of clients that trained at least once; global_accuracy_unseen: the same model on "
    "clients that never trained. *_client_mean/_std/_worst10 are unweighted across clients, the others "
    "example-weighted. personal_verification_*/global_verification_* (workload=face_kd): 10-fold verification "
    "accuracy and TAR@FAR of the personal models (mean, std over clients) and of the server's model on identities "
    "held out of every client and of the teacher. best_round: the evaluated round with the highest "
    "personal_accuracy_client_mean, chosen on the evaluated split (optimistic when that is the test split, as in "
    "the pFedSD report). See docs/personalization.md."
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


def score_spread(evaluated: list[dict[str, Any]], score_keys: tuple[str, ...]) -> dict[str, float]:
    """Unweighted mean and std across the evaluated clients of each workload score of their personal models."""
    row = {}
    for key in score_keys:
        values = [r[f"{PERSONAL_PREFIX}{key}"] for r in evaluated if f"{PERSONAL_PREFIX}{key}" in r]
        if values:
            row[f"{PERSONAL_PREFIX}{key}_client_mean"] = float(np.mean(values))
            row[f"{PERSONAL_PREFIX}{key}_client_std"] = float(np.std(values))
    return row


def round_row(train: list[dict[str, Any]], evaluated: list[dict[str, Any]], score_keys: tuple[str, ...] = (),
              loss_terms: tuple[str, ...] = ()) -> dict[str, Any]:
    """rounds.csv's row: training loss, accuracy and each term `loss_<term>` of `loss_terms` (example-weighted
    over the clients that trained), personal and global scores over the evaluated clients."""
    trained = [r for r in evaluated if r[PARTICIPATIONS] > 0]
    unseen = [r for r in evaluated if r[PARTICIPATIONS] == 0]
    row: dict[str, Any] = {"clients_trained": len(train), "clients_evaluated": len(evaluated),
                           "clients_unseen": len(unseen)}
    row |= weighted(train, (TRAIN_LOSS, TRAIN_ACCURACY))
    for term in loss_terms:
        row |= weighted(train, (loss_key(term),))
    row |= weighted(evaluated, (PERSONAL_LOSS, PERSONAL_ACCURACY))
    row |= client_spread([r[PERSONAL_ACCURACY] for r in evaluated], PERSONAL_ACCURACY)
    if unseen:
        row["personal_accuracy_unseen"] = float(np.mean([r[PERSONAL_ACCURACY] for r in unseen]))
    row |= score_spread(evaluated, score_keys)
    if evaluated and GLOBAL_ACCURACY in evaluated[0]:
        row |= weighted(trained, (GLOBAL_LOSS, GLOBAL_ACCURACY))
        row |= client_spread([r[GLOBAL_ACCURACY] for r in trained], GLOBAL_ACCURACY)
        if unseen:
            row["global_accuracy_unseen"] = float(np.mean([r[GLOBAL_ACCURACY] for r in unseen]))
    return row
