"""FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized
Data", AISTATS 2017) on Flower's message API, with per-client metric logging."""

from __future__ import annotations

from flwr.serverapp.strategy import FedAvg

from strategies.client_log import ClientLogMixin
from strategies.evaluation_schedule import EvaluationScheduleMixin
from strategies.partial_arrays import KeepsUnsentArrays


class LoggedFedAvg(ClientLogMixin, EvaluationScheduleMixin, KeepsUnsentArrays, FedAvg):
    """Flower's FedAvg; logs each client's reply metrics, follows the evaluation schedule and keeps the arrays
    clients do not send (personal heads, local normalisation)."""
