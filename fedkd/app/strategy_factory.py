"""Build the server strategy of the configured method: its Flower class from the method's registry entry,
sampling from the nodes connected each round (all `simulation.num_clients` unless some were lost; a round
needs `simulation.min_clients`), inside Flower's DP wrapper under client-level DP."""

from __future__ import annotations

from flwr.serverapp.strategy import Strategy

from fedkd.app.experiment_config import FederatedConfig
from fedkd.privacy.client_level import ClientDPSettings, wrap_strategy
from fedkd.protocol.reply import UNIFORM_WEIGHT
from strategies.client_log import weighted_mean_metrics


def build_strategy(config: FederatedConfig) -> Strategy:
    sim, entry = config.simulation, config.method()
    options = entry.server_options(config.strategy)
    client_dp = config.privacy if isinstance(config.privacy, ClientDPSettings) else None
    if client_dp is not None or config.strategy.weighting == "uniform":  # the DP mean's sensitivity needs equal
        options["weighted_by_key"] = UNIFORM_WEIGHT                           # weights
    strategy = entry.server(
        fraction_train=sim.fraction_train,
        fraction_evaluate=sim.fraction_evaluate,
        min_train_nodes=sim.min_clients,
        min_evaluate_nodes=sim.min_clients if sim.fraction_evaluate > 0 else 0,
        min_available_nodes=sim.min_clients,  # a lost SuperNode must not stall sampling
        train_metrics_aggr_fn=weighted_mean_metrics,
        evaluate_metrics_aggr_fn=weighted_mean_metrics,
        **options,
    )
    strategy.evaluate_every = sim.evaluate_every
    strategy.num_rounds = config.num_rounds
    if client_dp is not None:
        return wrap_strategy(strategy, client_dp, sim.train_clients_per_round())
    return strategy
