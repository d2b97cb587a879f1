"""Local training only: each client trains its own model from the common initial weights and never
averages. The lower bound every personalized-FL paper reports (e.g. pFedSD, Ditto)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from fedkd.methods.base import LocalMethod, MethodSettings, RoundInput, StateDict

LOCAL_MODEL = "fedkd.local_model"


@dataclass
class LocalOnlySettings(MethodSettings):
    """`strategy=local`."""

    name: str = "local"


class LocalOnlyClient(LocalMethod[LocalOnlySettings]):
    shares_global_model = False

    def _own_model(self, round_input: RoundInput) -> nn.Module:
        weights = round_input.state.get_model(LOCAL_MODEL)
        return round_input.model_from(weights if weights is not None else round_input.global_weights)

    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        model = self._own_model(round_input)
        metrics = round_input.train(model, self.train_settings, round_input.seed)
        self.store(round_input, LOCAL_MODEL, model.state_dict())
        # The server's model stays the initial one: send it back unchanged.
        return round_input.global_weights, metrics

    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        return self._own_model(round_input)
