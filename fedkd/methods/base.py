"""What every client-side method of a personalized-FL comparison provides.

A method turns the received global weights into (a) the update sent back to the server and (b) the
client's own model used for personalized evaluation. Everything it keeps between rounds lives in
the client's `ClientState` (Flower `context.state`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fedkd.data.federated import ClientData
from fedkd.privacy.sample_level import PrivateTraining
from fedkd.state.client_state import ClientState
from fedkd.training.local import ExtraTerms, Objective, cross_entropy, train_local

StateDict = dict[str, torch.Tensor]


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

    def train(self, model: nn.Module, train_cfg: dict[str, Any], seed: int, objective: Objective = cross_entropy,
              epochs: int | None = None, params: Iterable[nn.Parameter] | None = None) -> dict[str, float]:
        """`train_local` on this client's training split, with the workload's extra terms."""
        return train_local(model, self.data.train_x, self.data.train_y, train_cfg, seed, objective, epochs,
                           params, self.extra_terms, self.private)

    def model_from(self, weights: StateDict) -> nn.Module:
        model = self.new_model()
        model.load_state_dict(weights)
        return model

    def global_model(self) -> nn.Module:
        return self.model_from(self.global_weights)


class LocalMethod(ABC):
    """Client side of one method; `config` is the whole composed experiment config."""

    # False where the server's model alone is not a classifier worth scoring (local-only, FedPer).
    shares_global_model: bool = True

    def __init__(self, config: dict[str, Any]) -> None:
        self.method_cfg = config["strategy"]
        self.train_cfg = config["train"]
        self.half_state = config["simulation"]["state_precision"] == "float16"

    def epochs_per_participation(self) -> int:
        """Local epochs over the training split in one participation (plans the DP noise)."""
        return int(self.train_cfg["local_epochs"])

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
