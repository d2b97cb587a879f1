"""`simulation`: the size of the federation, client sampling and evaluation, and the runtime that runs it."""

from __future__ import annotations

from dataclasses import dataclass, field

from fedkd.app.engine_pickup import PICKUPS
from fedkd.app.failure_settings import FailureSettings
from fedkd.config.fields import NOT_EMPTY, above, at_least, at_most, one_of, setting
from fedkd.data.federated import EVALUATE_SPLITS

BACKENDS = ("ray", "inprocess")
ON_CLIENT_ERROR = ("fail", "tolerate")


SIMULATED_POLL, DEPLOYED_POLL = 0.01, 0.1  # seconds between reply asks where `reply_poll_interval` is null


@dataclass
class SimulationSettings:
    num_clients: int = setting(10, at_least(1), help="virtual SuperNodes (= partitions)")
    fraction_train: float = setting(1.0, above(0), at_most(1), help="share of clients sampled for training each round")
    fraction_evaluate: float = setting(1.0, at_least(0), at_most(1), help="share of clients evaluating each round "
                                       "(1.0: personalized metrics cover all)")
    evaluate_split: str = setting("test", one_of(EVALUATE_SPLITS), help="what client evaluation scores: "
                                  "the test split, or the validation split (tuning; the test rows are then not read)")
    evaluate_every: int = setting(1, at_least(1), help="client evaluation every k rounds (and always in the last)")
    min_clients: int = setting(2, at_least(1))
    client_cpus: float = setting(1.0, above(0), help="Ray resources per ClientApp (2 cores here: 2 run at once)")
    client_gpus: float = setting(0.0, at_least(0))
    backend: str = setting("ray", one_of(BACKENDS), help="ray: Flower Simulation Runtime | inprocess: the same "
                           "apps in one process, no Ray")
    ray_address: str | None = setting(None, NOT_EMPTY, help="null: a Ray instance of its own | HOST:PORT or auto: "
                                      "a running Ray cluster (docs/deployment.md)")
    round_timeout: float = setting(3600.0, above(0), help="seconds a round waits for its replies; later ones are "
                                   "dropped (stragglers)")
    reply_poll_interval: float | None = setting(None, above(0), at_most(10), help="seconds between the ServerApp's "
                                                "asks for replies; null: 0.01 in the simulation runtime (an "
                                                "in-memory ask), 0.1 deployed (Flower's deployed grid: 3 s)")
    instruction_pickup: str = setting("wake", one_of(PICKUPS), help="Ray backend: wake, Flower's engine picks up "
                                      "instructions as soon as they are pushed and queues them longest-first; "
                                      "flower: its own 0.1 s loop in node order (fedkd/app/engine_pickup.py)")
    on_client_error: str = setting("fail", one_of(ON_CLIENT_ERROR), help="a ClientApp that raises: fail the run, or "
                                   "go on without its reply (its traceback is kept in client_errors/ either way)")
    failures: FailureSettings = field(default_factory=FailureSettings)
    state_precision: str = setting("float16", one_of(("float16", "float32")),
                                   help="models kept in client state (historical, personal)")

    def train_clients_per_round(self) -> int:
        """How many clients Flower's FedAvg samples for training each round."""
        return max(int(self.num_clients * self.fraction_train), self.min_clients)
