"""The federated rounds, as Flower's `Strategy.start` runs them, but from any round: a resumed run starts
after its checkpoint's round with the checkpoint's arrays and strategy.

Each round: the strategy configures training, the grid delivers it, the strategy aggregates; then the same
for evaluation; then `end_of_round(round, arrays)` (metrics, privacy, checkpoints)."""

from __future__ import annotations

from collections.abc import Callable

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

REPLY_TIMEOUT = 3600.0  # seconds a round waits for its replies (Flower's default)


def run_rounds(strategy: Strategy, grid: Grid, arrays: ArrayRecord, first_round: int, num_rounds: int,
               train_config: ConfigRecord, evaluate_config: ConfigRecord,
               end_of_round: Callable[[int, ArrayRecord], None], timeout: float = REPLY_TIMEOUT,
               on_train_replies: Callable[[ArrayRecord, list[Message]], None] | None = None) -> ArrayRecord:
    """Run rounds `first_round`..`num_rounds`; returns the final global arrays. `on_train_replies` sees each
    round's global arrays and the training replies to them (a privacy audit's attacker)."""
    for server_round in range(first_round, num_rounds + 1):
        replies = list(grid.send_and_receive(strategy.configure_train(server_round, arrays, train_config, grid),
                                             timeout=timeout))
        if on_train_replies is not None:
            on_train_replies(arrays, replies)
        aggregated, _ = strategy.aggregate_train(server_round, replies)
        if aggregated is not None:
            arrays = aggregated
        replies = grid.send_and_receive(strategy.configure_evaluate(server_round, arrays, evaluate_config, grid),
                                        timeout=timeout)
        strategy.aggregate_evaluate(server_round, replies)
        end_of_round(server_round, arrays)
    return arrays
