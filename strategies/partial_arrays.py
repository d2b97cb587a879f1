"""Averaging updates that cover part of the model: clients send only their shared arrays (FedPer and FedRep
keep their heads, Arivazhagan et al. 2019 / Collins et al., ICML 2021; FedBN keeps its normalisation
layers, Li et al., ICLR 2021). The average of what was sent replaces those arrays of the server's model; the
arrays no client sends stay as they were."""

from __future__ import annotations

from collections.abc import Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid


class KeepsUnsentArrays:
    """Put before a Flower strategy class in the bases."""

    _current: ArrayRecord

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self._current = arrays
        return super().configure_train(server_round, arrays, config, grid)  # type: ignore[misc]

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        sent, metrics = super().aggregate_train(server_round, replies)  # type: ignore[misc]
        if sent is None:
            return None, metrics
        return ArrayRecord({key: sent.get(key, array) for key, array in self._current.items()}), metrics
