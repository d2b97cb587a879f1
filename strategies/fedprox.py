"""FedProx (Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020) on Flower's
message API: the server sends μ as "proximal-mu"; the client adds the proximal term."""

from __future__ import annotations

from flwr.serverapp.strategy import FedProx

from strategies.client_log import ClientLogMixin
from strategies.evaluation_schedule import EvaluationScheduleMixin
from strategies.partial_arrays import KeepsUnsentArrays


class LoggedFedProx(ClientLogMixin, EvaluationScheduleMixin, KeepsUnsentArrays, FedProx):
    """Flower's FedProx; keeps each client's reply metrics for the run directory and the arrays clients do
    not send."""
