"""FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized
Data", AISTATS 2017) on Flower's message API, with per-client metric logging."""

from __future__ import annotations

from flwr.serverapp.strategy import FedAvg

from strategies.client_log import ClientLogMixin
from strategies.evaluation_schedule import EvaluationScheduleMixin


class LoggedFedAvg(ClientLogMixin, EvaluationScheduleMixin, FedAvg):
    """Flower's FedAvg; logs each client's reply metrics and follows the evaluation schedule."""
