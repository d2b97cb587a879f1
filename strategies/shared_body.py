"""FedAvg over the shared part of the model only (FedPer, Arivazhagan et al. 2019; FedRep, Collins et
al., ICML 2021): clients send the body and keep their heads; the averaged body replaces the body of
the server's model, whose remaining (head) arrays stay as they were."""

from __future__ import annotations

from collections.abc import Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from strategies.client_log import ClientLogMixin
from strategies.evaluation_schedule import EvaluationScheduleMixin


class SharedBodyFedAvg(ClientLogMixin, EvaluationScheduleMixin, FedAvg):
    _current: ArrayRecord

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self._current = arrays
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        body, metrics = super().aggregate_train(server_round, replies)
        if body is None:
            return None, metrics
        merged = ArrayRecord({key: body.get(key, array) for key, array in self._current.items()})
        return merged, metrics
