"""What every workload provides (`workload=<name>`): server-side preparation, extra loss terms for each
client's objective, the names of those terms, identities held out of the clients, its own scores of a model
at evaluation rounds, and whether clients adapt BatchNorm before evaluating."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from omegaconf import MISSING
from torch import nn

from fedkd.data.federated import ClientData, FederationSpec
from fedkd.data.holdout import IdentityHoldout
from fedkd.training.local import ExtraTerms


@dataclass
class WorkloadSettings:
    name: str = MISSING
    preparation: ClassVar[str | None] = None  # what `prepare_server` does, for the progress line

    def prepare_server(self, spec: FederationSpec) -> None:
        """Work the ServerApp does once before round 1 (e.g. train a teacher)."""

    def client_terms(self, spec: FederationSpec, data: ClientData) -> ExtraTerms | None:
        """Loss terms added to every local objective of this client; None: the method's objective only."""
        return None

    def holdout(self) -> IdentityHoldout | None:
        """Identities removed from every client's data (kept for protocols on unseen identities)."""
        return None

    def loss_terms(self) -> tuple[str, ...]:
        """Names of the terms `client_terms` returns (logged as loss_<name> in clients.csv)."""
        return ()

    def score_keys(self) -> tuple[str, ...]:
        """Names of the metrics `score` returns (logged as personal_<key> per client and global_<key> per round)."""
        return ()

    def score(self, spec: FederationSpec, model: nn.Module) -> dict[str, float]:
        """The workload's own scores of a model at an evaluation round (e.g. face verification); none here."""
        return {}

    @property
    def adapts_batchnorm(self) -> bool:
        """Whether clients re-estimate BatchNorm statistics on their own test inputs before evaluating."""
        return False
