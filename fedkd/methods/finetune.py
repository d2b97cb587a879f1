"""FedAvg followed by local fine-tuning (FedAvg+FT), the simplest personalized baseline
(e.g. Wang et al., "Federated Evaluation of On-device Personalization", 2019): the global model is
trained by FedAvg; each client's personal model is that global model fine-tuned on its own train
split for `strategy.finetune_epochs` at evaluation time."""

from __future__ import annotations

from torch import nn

from fedkd.methods.base import RoundInput
from fedkd.methods.fedavg import FedAvgClient


class FedAvgFineTuneClient(FedAvgClient):
    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        model = round_input.global_model()
        round_input.train(model, self.train_cfg, round_input.seed, epochs=self.method_cfg["finetune_epochs"])
        return model
