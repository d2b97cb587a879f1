"""Shared body, personal head.

FedPer (Arivazhagan et al., "Federated Learning with Personalization Layers", 2019): body and head
are trained jointly; only the body is averaged. FedRep (Collins et al., "Exploiting Shared
Representations for Personalized Federated Learning", ICML 2021): the head is trained first with the
body frozen (`head_epochs`), then the body with the head frozen (`body_epochs`).

Parameters whose names start with one of `strategy.personal_layers` stay on the client; only the
rest is sent (the server's `SharedBodyFedAvg` averages what it receives).
"""

from __future__ import annotations

from torch import nn

from fedkd.methods.base import LocalMethod, RoundInput, StateDict

PERSONAL_HEAD = "fedkd.personal_head"


def is_personal(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class FedPerClient(LocalMethod):
    shares_global_model = False

    def _assembled(self, round_input: RoundInput) -> nn.Module:
        """Global body with this client's head (the global head before its first participation)."""
        weights = dict(round_input.global_weights)
        weights.update(round_input.state.get_model(PERSONAL_HEAD) or {})
        return round_input.model_from(weights)

    def _train(self, model: nn.Module, round_input: RoundInput) -> dict[str, float]:
        return round_input.train(model, self.train_cfg, round_input.seed)

    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        prefixes = list(self.method_cfg["personal_layers"])
        model = self._assembled(round_input)
        metrics = self._train(model, round_input)
        weights = model.state_dict()
        self.store(round_input, PERSONAL_HEAD, {k: v for k, v in weights.items() if is_personal(k, prefixes)})
        return {k: v for k, v in weights.items() if not is_personal(k, prefixes)}, metrics

    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        return self._assembled(round_input)


class FedRepClient(FedPerClient):
    def epochs_per_participation(self) -> int:
        return int(self.method_cfg["head_epochs"] + self.method_cfg["body_epochs"])

    def _train(self, model: nn.Module, round_input: RoundInput) -> dict[str, float]:
        cfg = self.method_cfg
        prefixes = list(cfg["personal_layers"])
        head = [p for n, p in model.named_parameters() if is_personal(n, prefixes)]
        body = [p for n, p in model.named_parameters() if not is_personal(n, prefixes)]
        head_metrics = round_input.train(model, self.train_cfg, round_input.seed, epochs=cfg["head_epochs"],
                                         params=head)
        metrics = round_input.train(model, self.train_cfg, round_input.seed + 1, epochs=cfg["body_epochs"],
                                    params=body)
        return metrics | {f"head_{k}": v for k, v in head_metrics.items()}
