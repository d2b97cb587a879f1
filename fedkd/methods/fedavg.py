"""FedAvg (McMahan et al., AISTATS 2017) and FedProx (Li et al., "Federated Optimization in
Heterogeneous Networks", MLSys 2020): the client trains the global model on its data; FedProx adds
(μ/2)·‖w − w_global‖², with μ sent by the server (Flower's FedProx puts it in "proximal-mu")."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fedkd.config.fields import at_least, setting
from fedkd.config.search_space import Interval, Space
from fedkd.distill import forward_outputs
from fedkd.methods.base import LocalMethod, MethodSettings, RoundInput, S, StateDict
from fedkd.protocol.instructions import PROXIMAL_MU
from fedkd.training.local import Objective, cross_entropy, per_sample


@dataclass
class FedAvgSettings(MethodSettings):
    """`strategy=fedavg`: FedAvg with Flower's message-API strategy."""

    name: str = "fedavg"


@dataclass
class FedProxSettings(MethodSettings):
    """`strategy=fedprox`."""

    name: str = "fedprox"
    proximal_mu: float = setting(0.01, at_least(0), help="μ of the proximal term (μ/2)·‖w − w_global‖²")

    def search_space(self) -> dict[str, Space]:
        return {"proximal_mu": Interval(1e-4, 10.0, log=True)}


def proximal_objective(anchor: nn.Module, mu: float) -> Objective:
    """Cross-entropy plus (μ/2)·‖w − anchor‖² over the trainable parameters."""
    anchor_params = [p.detach().clone() for p in anchor.parameters()]

    @per_sample
    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        outputs = forward_outputs(model, x)
        distance = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor_params, strict=True))
        return outputs, {"ce": F.cross_entropy(outputs.logits, y, reduction="none"), "proximal": 0.5 * mu * distance}

    return objective


class FedAvgClient(LocalMethod[S]):
    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        model = round_input.global_model()
        metrics = round_input.train(model, self.train_settings, round_input.seed, cross_entropy)
        return model.state_dict(), metrics


class FedProxClient(LocalMethod[FedProxSettings]):
    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        model = round_input.global_model()
        mu = float(round_input.server_config[PROXIMAL_MU])
        objective = proximal_objective(round_input.global_model(), mu)
        metrics = round_input.train(model, self.train_settings, round_input.seed, objective)
        return model.state_dict(), metrics
