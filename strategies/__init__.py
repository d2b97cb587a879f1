"""Server-side strategies (Flower message API), one algorithm per file."""

from __future__ import annotations

from typing import Any

from flwr.serverapp.strategy import Strategy

from strategies.client_log import weighted_mean_metrics
from strategies.fedavg import LoggedFedAvg

STRATEGY_CLASSES = {"fedavg": LoggedFedAvg}


def build_strategy(config: dict[str, Any]) -> Strategy:
    """The configured strategy, sampling from exactly `simulation.num_clients` nodes."""
    sim = config["simulation"]
    cls = STRATEGY_CLASSES[config["strategy"]["name"]]
    return cls(
        fraction_train=sim["fraction_train"],
        fraction_evaluate=sim["fraction_evaluate"],
        min_train_nodes=sim["min_clients"],
        min_evaluate_nodes=sim["min_clients"] if sim["fraction_evaluate"] > 0 else 0,
        min_available_nodes=sim["num_clients"],
        train_metrics_aggr_fn=weighted_mean_metrics,
        evaluate_metrics_aggr_fn=weighted_mean_metrics,
    )
