"""Server-side strategies (Flower message API), one algorithm per file.

Most personalized methods differ only on the client (fedkd.methods); on the server they are FedAvg.
FedProx sends its μ; FedPer/FedRep average the shared body only. Under client-level DP
(`privacy.mode=client`) the strategy averages with equal weights inside Flower's DP wrapper.
"""

from __future__ import annotations

from typing import Any

from flwr.serverapp.strategy import FedAvg, Strategy

from fedkd.privacy.client_level import ClientDPSettings, sampled_per_round, wrap_strategy
from strategies.client_log import ClientLogMixin, weighted_mean_metrics
from strategies.fedavg import LoggedFedAvg
from strategies.fedprox import LoggedFedProx
from strategies.shared_body import SharedBodyFedAvg

SERVER_STRATEGIES: dict[str, type[FedAvg]] = {
    "fedprox": LoggedFedProx,
    "fedper": SharedBodyFedAvg,
    "fedrep": SharedBodyFedAvg,
}


def build_strategy(config: dict[str, Any]) -> Strategy:
    """The configured strategy, sampling from exactly `simulation.num_clients` nodes."""
    sim, name = config["simulation"], config["strategy"]["name"]
    cls = SERVER_STRATEGIES.get(name, LoggedFedAvg)
    extra = {"proximal_mu": config["strategy"]["proximal_mu"]} if name == "fedprox" else {}
    client_dp = ClientDPSettings.from_config(config)
    if client_dp is not None:  # the DP mean's sensitivity needs equal weights
        extra["weighted_by_key"] = "uniform-weight"
    strategy = cls(
        fraction_train=sim["fraction_train"],
        fraction_evaluate=sim["fraction_evaluate"],
        min_train_nodes=sim["min_clients"],
        min_evaluate_nodes=sim["min_clients"] if sim["fraction_evaluate"] > 0 else 0,
        min_available_nodes=sim["num_clients"],
        train_metrics_aggr_fn=weighted_mean_metrics,
        evaluate_metrics_aggr_fn=weighted_mean_metrics,
        **extra,
    )
    strategy.evaluate_every = sim["evaluate_every"]
    strategy.num_rounds = config["num_rounds"]
    if client_dp is not None:
        return wrap_strategy(strategy, client_dp, sampled_per_round(config))
    return strategy


def logged(strategy: Strategy) -> ClientLogMixin:
    """The strategy that logged the clients' replies (the inner one of a DP wrapper)."""
    inner = getattr(strategy, "strategy", strategy)
    assert isinstance(inner, ClientLogMixin)
    return inner
