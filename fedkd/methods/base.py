"""What every client-side method of a personalized-FL comparison provides.

A method turns the received global weights into (a) the update sent back to the server and (b) the
client's own model used for personalized evaluation. Everything it keeps between rounds lives in
the client's `ClientState` (Flower `context.state`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import torch
from omegaconf import MISSING
from torch import nn

from fedkd.audit.canary_gradients import CanaryGradients
from fedkd.config.fields import one_of, setting
from fedkd.config.search_space import Space
from fedkd.data.federated import ClientData
from fedkd.privacy.sample_level import PrivateTraining
from fedkd.state.client_state import ClientState
from fedkd.training.local import ExtraTerms, Objective, TrainSettings, cross_entropy, train_local

StateDict = dict[str, torch.Tensor]


@dataclass
class MethodSettings:
    """What every FL method's settings have: the name that selects it (`strategy=<name>`), and whether its
    normalisation layers stay on the client (FedBN, Li et al., ICLR 2021), an option of every method."""

    name: str = MISSING
    local_norm: bool = setting(False, help="FedBN: normalisation layers (weights and statistics) stay on each "
                               "client, never sent or averaged")
    weighting: str = setting("examples", one_of(("examples", "uniform")), help="server average of the updates: "
                             "weighted by training examples (FedAvg), or uniform (the pFedSD reference)")

    def search_space(self) -> dict[str, Space]:
        """The method's own hyper-parameters a tuning run searches (keys under `strategy.`), with their ranges."""
        return {}


S = TypeVar("S", bound=MethodSettings)


@dataclass
class RoundInput:
    """One client's view of one round: the global weights, its data, its state, a seed."""

    global_weights: StateDict
    data: ClientData
    state: ClientState
    server_round: int
    seed: int
    new_model: Callable[[], nn.Module]
    server_config: dict[str, Any]
    extra_terms: ExtraTerms | None = None  # the workload's own losses, added to every local objective
    private: PrivateTraining | None = None  # sample-level DP: every training call runs DP-SGD on the budget
    canaries: CanaryGradients | None = None  # a privacy audit's included gradient canaries

    def train(self, model: nn.Module, settings: TrainSettings, seed: int, objective: Objective = cross_entropy,
              epochs: int | None = None, params: Iterable[nn.Parameter] | None = None) -> dict[str, float]:
        """`train_local` on this client's training split, with the workload's extra terms."""
        return train_local(model, self.data.train_x, self.data.train_y, settings, seed, objective, epochs,
                           params, self.extra_terms, self.private, self.canaries)

    def model_from(self, weights: StateDict) -> nn.Module:
        model = self.new_model()
        model.load_state_dict(weights)
        return model

    def global_model(self) -> nn.Module:
        return self.model_from(self.global_weights)


class LocalMethod(ABC, Generic[S]):
    """Client side of one method: its own settings, the local training settings, and whether models kept in
    the client's state are stored in float16."""

    # False where the server's model alone is not a classifier worth scoring (local-only, FedPer).
    shares_global_model: bool = True

    def __init__(self, settings: S, train: TrainSettings, half_state: bool = True) -> None:
        self.settings = settings
        self.train_settings = train
        self.half_state = half_state

    def epochs_per_participation(self) -> int:
        """Local epochs over the training split in one participation (plans the DP noise)."""
        return self.train_settings.local_epochs

    @abstractmethod
    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        """Local work of one participation: returns the weights to send and training metrics."""

    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        """The model this client would use now; by default the global model itself."""
        return global_model

    def store(self, round_input: RoundInput, name: str, weights: StateDict) -> None:
        round_input.state.put_model(name, weights, half=self.half_state)


def frozen(model: nn.Module) -> nn.Module:
    """Eval mode, no gradients: how a teacher is used."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
