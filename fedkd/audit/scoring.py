"""The attacker's side of the audit: a score per canary of each audited client, from what the server sees only
(the global model it sent each round and the update the client sent back). Higher means "more likely included".
This module has no access to the inclusion coins (it does not import `coins.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from flwr.app import ArrayRecord, Message
from torch import nn

from fedkd.audit.canaries import GradientCanaries, InputCanaries, gradient_canaries, input_canaries
from fedkd.audit.settings import AuditSettings
from fedkd.data.image_data import DataShape
from fedkd.protocol.reply import DP_EPSILON, DP_REFUSED, PARTITION_ID

StateDict = dict[str, torch.Tensor]


class CanaryScorer:
    """Input canaries: the sum over rounds of the drop of a canary's loss from the global model to the client's
    released model. Gradient canaries: the sum over rounds of the decrease of the canary's weight (an included
    canary's gradient pushes it down)."""

    def __init__(self, settings: AuditSettings, shape: DataShape, new_model: Callable[[], nn.Module],
                 gradient_norm: float) -> None:
        self.settings, self.new_model = settings, new_model
        m = settings.num_canaries
        self.designs: dict[int, InputCanaries | GradientCanaries] = {
            k: input_canaries(m, shape, settings.design_seed, k) if settings.canary == "input"
            else gradient_canaries(m, new_model(), gradient_norm, settings.design_seed, k)
            for k in settings.clients}
        self.scores = {k: np.zeros(m) for k in settings.clients}
        self.releases = dict.fromkeys(settings.clients, 0)
        self.claims: dict[int, float | None] = dict.fromkeys(settings.clients)  # the client's last reported ε

    def observe(self, global_arrays: ArrayRecord, replies: Iterable[Message]) -> None:
        """Score the updates of the audited clients among this round's training replies."""
        sent: StateDict | None = None
        for msg in replies:
            if msg.has_error():
                continue
            metrics = msg.content["metrics"]
            partition = int(metrics[PARTITION_ID])
            if partition not in self.designs or int(metrics.get(DP_REFUSED, 0)):
                continue
            sent = sent if sent is not None else global_arrays.to_torch_state_dict()
            released = sent | msg.content["arrays"].to_torch_state_dict()
            self.scores[partition] += self._round_scores(self.designs[partition], sent, released)
            self.releases[partition] += 1
            if DP_EPSILON in metrics:
                self.claims[partition] = float(metrics[DP_EPSILON])

    def _round_scores(self, design: InputCanaries | GradientCanaries, sent: StateDict,
                      released: StateDict) -> np.ndarray:
        if isinstance(design, GradientCanaries):
            return np.array([float(sent[key].flatten()[offset] - released[key].flatten()[offset])
                             for key, offset in zip(design.keys, design.offsets.tolist(), strict=True)])
        return self._losses(design, sent) - self._losses(design, released)

    @torch.no_grad()
    def _losses(self, design: InputCanaries, weights: StateDict) -> np.ndarray:
        model = self.new_model()
        model.load_state_dict(weights)
        model.eval()
        return F.cross_entropy(model(design.images), design.labels, reduction="none").numpy()
