"""FedAvg (McMahan et al., AISTATS 2017) and FedProx (Li et al., "Federated Optimization in
Heterogeneous Networks", MLSys 2020): the client trains the global model on its data; FedProx adds
(μ/2)·‖w − w_global‖², with μ sent by the server (Flower's FedProx puts it in "proximal-mu")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedkd.distill import forward_outputs
from fedkd.methods.base import LocalMethod, RoundInput, StateDict
from fedkd.training.local import Objective, cross_entropy


def proximal_objective(anchor: nn.Module, mu: float) -> Objective:
    """Cross-entropy plus (μ/2)·‖w − anchor‖² over the trainable parameters."""
    anchor_params = [p.detach().clone() for p in anchor.parameters()]

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        outputs = forward_outputs(model, x)
        distance = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor_params, strict=True))
        return outputs, {"ce": F.cross_entropy(outputs.logits, y), "proximal": 0.5 * mu * distance}

    return objective


class FedAvgClient(LocalMethod):
    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        model = round_input.global_model()
        metrics = round_input.train(model, self.train_cfg, round_input.seed, cross_entropy)
        return model.state_dict(), metrics


class FedProxClient(LocalMethod):
    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        model = round_input.global_model()
        mu = float(round_input.server_config["proximal-mu"])
        objective = proximal_objective(round_input.global_model(), mu)
        metrics = round_input.train(model, self.train_cfg, round_input.seed, objective)
        return model.state_dict(), metrics
