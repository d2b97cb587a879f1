"""rounds.csv and clients.csv of a federated run: their columns, and one writer for both.

clients.csv has a column for every metric a client reply can carry: the common ones, each training
pass's loss and accuracy and every declared loss term (the method's, the workload's), and the privacy
columns, and the workload's scores of each personal model. A reply metric without a column is an error, not a
silent omission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fedkd.protocol import reply
from fedkd.results.run_dir import RunDirectory

ROUNDS_CSV, CLIENTS_CSV = "rounds.csv", "clients.csv"
ROUND_COLUMNS = (
    "round", "train_loss", "train_accuracy",
    "personal_loss", "personal_accuracy", "personal_accuracy_client_mean", "personal_accuracy_client_std",
    "personal_accuracy_worst10", "personal_accuracy_unseen",
    "global_loss", "global_accuracy", "global_accuracy_client_mean", "global_accuracy_client_std",
    "global_accuracy_worst10", "global_accuracy_unseen",
    "clients_trained", "clients_evaluated", "clients_unseen",
    "clients_crashed", "clients_errors", "clients_straggled", "clients_rejected", "aggregation_skipped",
)
OUTCOME_COLUMNS = {"crashed": "clients_crashed", "error": "clients_errors", "straggler": "clients_straggled",
                   "rejected": "clients_rejected"}  # a reply's status → its round count
IDENTITY_COLUMNS = ("round", "phase", "partition_id", "node_id", "status", "num_examples", reply.PARTICIPATIONS)
EVALUATION_COLUMNS = (reply.PERSONAL_LOSS, reply.PERSONAL_ACCURACY, reply.GLOBAL_LOSS, reply.GLOBAL_ACCURACY)
# Reply keys written under another name (partition_id, num_examples) or not at all (the weight of 1).
UNLOGGED = (reply.PARTITION_ID, reply.NUM_EXAMPLES, reply.UNIFORM_WEIGHT)


def train_columns(passes: Iterable[str], terms: Iterable[str]) -> tuple[str, ...]:
    """Loss, accuracy and every loss term of the main training pass and of each further pass (by prefix)."""
    terms = tuple(terms)
    columns: list[str] = []
    for prefix in ("", *passes):
        columns += [f"{prefix}{reply.TRAIN_LOSS}", f"{prefix}{reply.TRAIN_ACCURACY}",
                    *(f"{prefix}{reply.loss_key(t)}" for t in ("ce", *terms))]
    return tuple(columns)


def score_columns(score_keys: tuple[str, ...]) -> tuple[str, ...]:
    """rounds.csv columns of the workload's scores: personal (mean, std over clients), then global."""
    personal = [f"{reply.PERSONAL_PREFIX}{k}_client_{s}" for k in score_keys for s in ("mean", "std")]
    return (*personal, *(f"{reply.GLOBAL_PREFIX}{k}" for k in score_keys))


class FederatedLog:
    """Appends each round's row to rounds.csv and each client reply to clients.csv."""

    def __init__(self, run: RunDirectory, passes: Iterable[str], terms: Iterable[str],
                 privacy_client_columns: Iterable[str], privacy_round_columns: Iterable[str],
                 score_keys: Iterable[str] = (), method_metrics: Iterable[str] = (),
                 resume_sizes: Mapping[str, int] | None = None) -> None:
        """`resume_sizes`: a resumed run's checkpoint sizes of both files; they are cut back to them."""
        sizes = resume_sizes or {}
        scores, terms = tuple(score_keys), tuple(terms)
        client_columns = (*IDENTITY_COLUMNS, *train_columns(passes, terms), *method_metrics, *privacy_client_columns,
                          *EVALUATION_COLUMNS, *(f"{reply.PERSONAL_PREFIX}{k}" for k in scores), reply.SECONDS)
        self.loss_terms = ("ce", *terms)
        self.rounds = run.open_csv(ROUNDS_CSV, (*ROUND_COLUMNS, *(reply.loss_key(t) for t in self.loss_terms),
                                                  *score_columns(scores), *privacy_round_columns, "seconds"),
                                   resume_at=sizes.get(ROUNDS_CSV))
        self.clients = run.open_csv(CLIENTS_CSV, client_columns, strict=True, unlogged=UNLOGGED,
                                    resume_at=sizes.get(CLIENTS_CSV))

    def sizes(self) -> dict[str, int]:
        """Bytes of both files so far (what a checkpoint records)."""
        return {ROUNDS_CSV: self.rounds.size(), CLIENTS_CSV: self.clients.size()}

    def append_clients(self, server_round: int, phase: str, rows: Iterable[Mapping[str, Any]]) -> None:
        self.clients.append(dict(r) | {"round": server_round, "phase": phase, "partition_id": r[reply.PARTITION_ID],
                                       "status": "ok", "num_examples": r[reply.NUM_EXAMPLES]} for r in rows)

    def append_outcomes(self, outcomes: Iterable[Mapping[str, Any]]) -> None:
        """Rows for replies that did not count (crashed, error, straggler, rejected, skipped); the reason of
        each is in the progress output and, for errors, in client_errors/."""
        self.clients.append({k: v for k, v in o.items() if k != "reason"} for o in outcomes)

    def append_round(self, row: Mapping[str, Any]) -> None:
        self.rounds.append([row])


def outcome_counts(outcomes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """rounds.csv's failure columns of one round."""
    outcomes = list(outcomes)
    counts = {column: sum(o["status"] == status for o in outcomes) for status, column in OUTCOME_COLUMNS.items()}
    return counts | {"aggregation_skipped": int(any(o["status"] == "skipped" for o in outcomes))}
