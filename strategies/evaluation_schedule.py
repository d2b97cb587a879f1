"""Mixin: evaluate on clients only every `evaluate_every` rounds and in the final round."""

from __future__ import annotations

from collections.abc import Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid


class EvaluationScheduleMixin:
    evaluate_every: int = 1
    num_rounds: int = 0

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        if server_round % self.evaluate_every and server_round != self.num_rounds:
            return []
        return super().configure_evaluate(server_round, arrays, config, grid)  # type: ignore[misc]
