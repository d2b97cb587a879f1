"""Ditto (Li, Hu, Beirami, Smith, "Ditto: Fair and Robust Federated Learning Through
Personalization", ICML 2021): the global model is trained as in FedAvg; each client also keeps a
personal model v trained on CE + (λ/2)·‖v − w_global‖² for `strategy.personal_epochs`."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from fedkd.config.fields import at_least, setting
from fedkd.config.search_space import Interval, Space
from fedkd.methods.base import LocalMethod, MethodSettings, RoundInput, StateDict
from fedkd.methods.fedavg import proximal_objective

PERSONAL_MODEL = "fedkd.ditto_personal"
PERSONAL_PASS = "personal_"  # prefix of the personal model's training metrics


@dataclass
class DittoSettings(MethodSettings):
    """`strategy=ditto`."""

    name: str = "ditto"
    lambda_proximal: float = setting(0.1, at_least(0), help="λ of (λ/2)·‖v − w_global‖² on the personal model")
    personal_epochs: int = setting(2, at_least(1), help="epochs on the personal model per participation")

    def search_space(self) -> dict[str, Space]:
        return {"lambda_proximal": Interval(1e-3, 10.0, log=True), "personal_epochs": Interval(1, 10, integer=True)}


class DittoClient(LocalMethod[DittoSettings]):
    def epochs_per_participation(self) -> int:
        return self.train_settings.local_epochs + self.settings.personal_epochs

    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        shared = round_input.global_model()
        metrics = round_input.train(shared, self.train_settings, round_input.seed)
        personal = self.personal_model(round_input, shared)
        objective = proximal_objective(round_input.global_model(), self.settings.lambda_proximal)
        personal_metrics = round_input.train(personal, self.train_settings, round_input.seed + 1, objective,
                                             epochs=self.settings.personal_epochs)
        self.store(round_input, PERSONAL_MODEL, personal.state_dict())
        metrics |= {f"{PERSONAL_PASS}{k}": v for k, v in personal_metrics.items()}
        return shared.state_dict(), metrics

    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        weights = round_input.state.get_model(PERSONAL_MODEL)
        return round_input.model_from(weights if weights is not None else round_input.global_weights)
