"""Ditto (Li, Hu, Beirami, Smith, "Ditto: Fair and Robust Federated Learning Through
Personalization", ICML 2021): the global model is trained as in FedAvg; each client also keeps a
personal model v trained on CE + (λ/2)·‖v − w_global‖² for `strategy.personal_epochs`."""

from __future__ import annotations

from torch import nn

from fedkd.methods.base import LocalMethod, RoundInput, StateDict
from fedkd.methods.fedavg import proximal_objective

PERSONAL_MODEL = "fedkd.ditto_personal"


class DittoClient(LocalMethod):
    def epochs_per_participation(self) -> int:
        return int(self.train_cfg["local_epochs"] + self.method_cfg["personal_epochs"])

    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        shared = round_input.global_model()
        metrics = round_input.train(shared, self.train_cfg, round_input.seed)
        personal = self.personal_model(round_input, shared)
        objective = proximal_objective(round_input.global_model(), self.method_cfg["lambda"])
        personal_metrics = round_input.train(personal, self.train_cfg, round_input.seed + 1, objective,
                                             epochs=self.method_cfg["personal_epochs"])
        self.store(round_input, PERSONAL_MODEL, personal.state_dict())
        metrics |= {f"personal_{k}": v for k, v in personal_metrics.items()}
        return shared.state_dict(), metrics

    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        weights = round_input.state.get_model(PERSONAL_MODEL)
        return round_input.model_from(weights if weights is not None else round_input.global_weights)
