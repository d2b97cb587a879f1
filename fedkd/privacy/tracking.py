"""What the server reports about privacy: per-round columns, a progress line and privacy.json.

Every ε names its δ, its accountant and its scope; a run without DP says so.
"""

from __future__ import annotations

from typing import Any

from flwr.serverapp.strategy import Strategy
from flwr.supercore.differential_privacy import KEY_NORM_BIT

from fedkd.privacy.client_level import SCOPE as CLIENT_SCOPE
from fedkd.privacy.client_level import ClientDPSettings, ClientLevelAccountant
from fedkd.privacy.sample_level import SCOPE as SAMPLE_SCOPE
from fedkd.privacy.sample_level import SampleDPSettings
from fedkd.privacy.settings import PrivacySettings
from fedkd.protocol.reply import (
    DP_EPSILON,
    DP_EXHAUSTED,
    DP_NOISE_MULTIPLIER,
    DP_REFUSED,
    DP_SAMPLE_RATE,
    DP_STEPS,
    DP_TOTAL_STEPS,
)
from fedkd.protocol.reply import PARTITION_ID as PARTITION

SAMPLE_ROUND_COLUMNS = ("dp_epsilon_max", "dp_epsilon_mean", "clients_refused", "clients_exhausted")
SAMPLE_CLIENT_COLUMNS = (DP_EPSILON, DP_STEPS, DP_TOTAL_STEPS, DP_NOISE_MULTIPLIER, DP_SAMPLE_RATE, DP_EXHAUSTED,
                         DP_REFUSED)
CLIENT_ROUND_COLUMNS = ("client_epsilon", "clipping_norm")


class PrivacyTracker:
    """Follows the privacy of one run from the clients' train replies (and the DP wrapper)."""

    def __init__(self, privacy: PrivacySettings, num_clients: int, clients_per_round: int,
                 planned_participations: int | None = None) -> None:
        self.sample = privacy if isinstance(privacy, SampleDPSettings) else None
        self.client = privacy if isinstance(privacy, ClientDPSettings) else None
        self.planned_participations = planned_participations
        self.client_accountant = None
        if self.client is not None:
            self.client_accountant = ClientLevelAccountant(self.client, num_clients, clients_per_round)
        self.epsilons: dict[int, float] = {}  # sample-level: latest cumulative ε per partition
        self.exhausted: set[int] = set()
        self.clipping_norm: float | None = None

    @property
    def round_columns(self) -> tuple[str, ...]:
        return SAMPLE_ROUND_COLUMNS if self.sample else CLIENT_ROUND_COLUMNS if self.client else ()

    @property
    def client_columns(self) -> tuple[str, ...]:
        if self.sample is not None:
            return SAMPLE_CLIENT_COLUMNS
        if self.client is not None and self.client.side == "client" and self.client.clipping == "adaptive":
            return (KEY_NORM_BIT,)  # Flower's adaptiveclipping_mod: was this client's update clipped
        return ()

    def update(self, train_rows: list[dict[str, Any]], strategy: Strategy) -> dict[str, Any]:
        """This round's privacy columns."""
        if self.sample is not None:
            for row in train_rows:
                self.epsilons[row[PARTITION]] = float(row[DP_EPSILON])
                if row[DP_EXHAUSTED]:
                    self.exhausted.add(row[PARTITION])
            values = list(self.epsilons.values()) or [0.0]
            return {"dp_epsilon_max": max(values), "dp_epsilon_mean": sum(values) / len(values),
                    "clients_refused": sum(int(r[DP_REFUSED]) for r in train_rows),
                    "clients_exhausted": len(self.exhausted)}
        if self.client_accountant is not None:
            self.clipping_norm = float(strategy.clipping_norm)
            return {"client_epsilon": self.client_accountant.record_round(len(train_rows)),
                    "clipping_norm": self.clipping_norm}
        return {}

    def progress(self, row: dict[str, Any]) -> str | None:
        """A short part of the round line."""
        if self.sample is not None:
            return (f"ε max {row['dp_epsilon_max']:.2f} (δ={self.sample.delta:g}, "
                    f"{self.sample.accountant.upper()}) | exhausted {row['clients_exhausted']}")
        if self.client is not None:
            return f"client-level ε {row['client_epsilon']:.2f} (δ={self.client.delta:g}, RDP)"
        return None

    def report(self) -> dict[str, Any]:
        """privacy.json: the guarantee, its parameters and what was spent."""
        if self.sample is not None:
            s = self.sample
            return {"mode": "sample", "guarantee": "(ε, δ)-DP", "mechanism": "DP-SGD (Opacus), Poisson sampling",
                    "scope": SAMPLE_SCOPE, "local": True, "delta": s.delta, "accountant": s.accountant,
                    "target_epsilon": s.target_epsilon, "max_grad_norm": s.max_grad_norm,
                    "epsilon": max(self.epsilons.values(), default=0.0),
                    "epsilon_is": "the largest cumulative ε over clients",
                    "epsilon_per_client": {str(k): v for k, v in sorted(self.epsilons.items())},
                    "clients_exhausted": sorted(self.exhausted),
                    "planned_participations": self.planned_participations}
        if self.client is not None and self.client_accountant is not None:
            c, acc = self.client, self.client_accountant
            return {"mode": "client", "guarantee": "(ε, δ)-DP", "scope": CLIENT_SCOPE, "local": False,
                    "mechanism": f"DP-FedAvg, {c.side}-side {c.clipping} clipping (Flower wrapper)",
                    "delta": c.delta, "accountant": f"rdp ({acc.sampling}, {acc.relation})",
                    "epsilon": acc.epsilon(), "noise_multiplier": c.noise_multiplier,
                    "clipping_norm": c.clipping_norm if c.clipping == "fixed" else self.clipping_norm,
                    "clients_per_round": acc.num_sampled, "num_clients": acc.num_clients,
                    "rounds": acc.accountant.num_releases}
        return {"mode": "none", "guarantee": "none (non-private)", "epsilon": None}
