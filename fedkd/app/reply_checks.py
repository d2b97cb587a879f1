"""Validate a train reply against the instruction it answers: an update that could poison the aggregate is
rejected, never averaged."""

from __future__ import annotations

import numpy as np
from flwr.app import ArrayRecord, Message


def update_problem(sent: ArrayRecord, reply: Message) -> str | None:
    """Why the reply's update is unusable (None: it is fine). Its arrays must be a subset of the sent ones
    (partial updates: FedPer, FedRep, FedBN keep some), each with the sent shape, all finite. Dtypes may differ:
    the aggregate turns integer buffers (BatchNorm's counter) into floats."""
    records = list(reply.content.array_records.values())
    if len(records) != 1:
        return f"{len(records)} array records instead of 1"
    for key, array in records[0].items():
        if key not in sent:
            return f"unknown array {key!r}"
        expected = sent[key]
        if tuple(array.shape) != tuple(expected.shape):
            return f"array {key!r} has shape {list(array.shape)}, expected {list(expected.shape)}"
        values = array.numpy()
        if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
            return f"array {key!r} holds NaN or Inf values"
    return None
