"""FedAvg followed by local fine-tuning (FedAvg+FT), the simplest personalized baseline
(e.g. Wang et al., "Federated Evaluation of On-device Personalization", 2019): the global model is
trained by FedAvg; each client's personal model is that global model fine-tuned on its own train
split for `strategy.finetune_epochs` at evaluation time."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from fedkd.config.fields import at_least, setting
from fedkd.config.search_space import Interval, Space
from fedkd.methods.base import MethodSettings, RoundInput
from fedkd.methods.fedavg import FedAvgClient


@dataclass
class FineTuneSettings(MethodSettings):
    """`strategy=fedavg_ft`."""

    name: str = "fedavg_ft"
    finetune_epochs: int = setting(2, at_least(1), help="epochs of fine-tuning before each evaluation")

    def search_space(self) -> dict[str, Space]:
        return {"finetune_epochs": Interval(1, 10, integer=True)}


class FedAvgFineTuneClient(FedAvgClient[FineTuneSettings]):
    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        model = round_input.global_model()
        round_input.train(model, self.train_settings, round_input.seed, epochs=self.settings.finetune_epochs)
        return model
