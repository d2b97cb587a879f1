"""Mixin for Flower message-API strategies: keep each client's metrics of the latest round."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flwr.app import Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import Strategy

from fedkd.protocol.reply import DP_REFUSED, IDENTITY_KEYS


def client_rows(replies: Iterable[Message]) -> list[dict[str, Any]]:
    """One dict per successful reply: its MetricRecord plus the sending node's id."""
    rows = []
    for msg in replies:
        if msg.has_error():
            continue
        for record in msg.content.metric_records.values():
            rows.append(dict(record) | {"node_id": msg.metadata.src_node_id})
    return rows


def weighted_mean_metrics(contents: list[RecordDict], weight_key: str) -> MetricRecord:
    """Example-weighted mean of every metric except the weight itself and client identifiers."""
    records = [next(iter(c.metric_records.values())) for c in contents]
    weights = [float(r[weight_key]) for r in records]
    total = sum(weights) or 1.0
    keys = [k for k in records[0] if k != weight_key and k not in IDENTITY_KEYS]
    return MetricRecord({k: sum(float(r[k]) * w for r, w in zip(records, weights, strict=True)) / total
                         for k in keys})


def _refused(reply: Message) -> bool:
    return any(int(record.get(DP_REFUSED, 0)) for record in reply.content.metric_records.values())


class ClientLogMixin:
    """Put before a Flower strategy class in the bases; fills `last_train` / `last_evaluate`."""

    last_train: list[dict[str, Any]]
    last_evaluate: list[dict[str, Any]]

    def aggregate_train(self, server_round: int, replies: Iterable[Message]):
        replies = list(replies)
        self.last_train = client_rows(replies)
        trained = [r for r in replies if r.has_error() or not _refused(r)]
        return super().aggregate_train(server_round, trained)  # type: ignore[misc]

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]):
        replies = list(replies)
        self.last_evaluate = client_rows(replies)
        return super().aggregate_evaluate(server_round, replies)  # type: ignore[misc]


def logged(strategy: Strategy) -> ClientLogMixin:
    """The strategy that logged the clients' replies (the inner one of a DP wrapper)."""
    inner = getattr(strategy, "strategy", strategy)
    assert isinstance(inner, ClientLogMixin)
    return inner
