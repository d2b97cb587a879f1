"""Shared body, personal head.

FedPer (Arivazhagan et al., "Federated Learning with Personalization Layers", 2019): body and head
are trained jointly; only the body is averaged. FedRep (Collins et al., "Exploiting Shared
Representations for Personalized Federated Learning", ICML 2021): the head is trained first with the
body frozen (`head_epochs`), then the body with the head frozen (`body_epochs`).

Parameters whose names start with one of `strategy.personal_layers` stay on the client; only the
rest is sent (the server averages what it receives and keeps the rest, strategies.partial_arrays).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from fedkd.config.fields import NOT_EMPTY, at_least, each, setting
from fedkd.config.search_space import Interval, Space
from fedkd.methods.base import LocalMethod, MethodSettings, RoundInput, S, StateDict

PERSONAL_HEAD = "fedkd.personal_head"
HEAD_PASS = "head_"  # prefix of FedRep's head-training metrics
PREFIXES = "a non-empty list of parameter-name prefixes, e.g. [head]"


@dataclass
class FedPerSettings(MethodSettings):
    """`strategy=fedper`."""

    name: str = "fedper"
    personal_layers: list[str] = setting(["head"], NOT_EMPTY, each(NOT_EMPTY), allowed=PREFIXES,
                                         help="parameter-name prefixes that stay personal")


@dataclass
class FedRepSettings(FedPerSettings):
    """`strategy=fedrep`."""

    name: str = "fedrep"
    head_epochs: int = setting(2, at_least(1), help="epochs on the head, body frozen")
    body_epochs: int = setting(1, at_least(1), help="epochs on the body, head frozen")

    def search_space(self) -> dict[str, Space]:
        return {"head_epochs": Interval(1, 5, integer=True), "body_epochs": Interval(1, 3, integer=True)}


def is_personal(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class FedPerClient(LocalMethod[S]):
    shares_global_model = False

    def _assembled(self, round_input: RoundInput) -> nn.Module:
        """Global body with this client's head (the global head before its first participation)."""
        weights = dict(round_input.global_weights)
        weights.update(round_input.state.get_model(PERSONAL_HEAD) or {})
        return round_input.model_from(weights)

    def _train(self, model: nn.Module, round_input: RoundInput) -> dict[str, float]:
        return round_input.train(model, self.train_settings, round_input.seed)

    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        prefixes = list(self.settings.personal_layers)
        model = self._assembled(round_input)
        metrics = self._train(model, round_input)
        weights = model.state_dict()
        self.store(round_input, PERSONAL_HEAD, {k: v for k, v in weights.items() if is_personal(k, prefixes)})
        return {k: v for k, v in weights.items() if not is_personal(k, prefixes)}, metrics

    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        return self._assembled(round_input)


class FedRepClient(FedPerClient[FedRepSettings]):
    def epochs_per_participation(self) -> int:
        return self.settings.head_epochs + self.settings.body_epochs

    def _train(self, model: nn.Module, round_input: RoundInput) -> dict[str, float]:
        settings = self.settings
        prefixes = list(settings.personal_layers)
        head = [p for n, p in model.named_parameters() if is_personal(n, prefixes)]
        body = [p for n, p in model.named_parameters() if not is_personal(n, prefixes)]
        head_metrics = round_input.train(model, self.train_settings, round_input.seed, epochs=settings.head_epochs,
                                         params=head)
        metrics = round_input.train(model, self.train_settings, round_input.seed + 1, epochs=settings.body_epochs,
                                    params=body)
        return metrics | {f"{HEAD_PASS}{k}": v for k, v in head_metrics.items()}
