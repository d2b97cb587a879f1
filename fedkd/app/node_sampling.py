"""The generator Flower's strategies sample nodes with, owned by the run.

`flwr.serverapp.strategy.strategy_utils.sample_nodes` draws from the module-level `random`, which Flower's own
threads (heartbeats, retry back-off) also draw from under Ray, so seeding the global `random` does not fix
which clients a round samples. Each run puts its own `random.Random(seed)` in that module's place; its state
goes into the run's checkpoints.
"""

from __future__ import annotations

import random

from flwr.serverapp.strategy import strategy_utils


def seeded_node_sampling(seed: int) -> random.Random:
    generator = random.Random(seed)
    strategy_utils.random = generator  # type: ignore[assignment] - only `.sample` is used there
    return generator
