"""Injected client failures: each sampled client's fate in a training round, drawn from (seed, round, partition)
alone, so the same seed fails the same clients in every backend and after a resume."""

from __future__ import annotations

import random

import numpy as np
from flwr.app import Array, ArrayRecord, Message

from fedkd.app.failure_settings import FailureSettings

OK, CRASHED, STRAGGLER, CORRUPT = "ok", "crashed", "straggler", "corrupt"
KINDS = ("nan", "inf", "shape", "keys")


class FailureInjector:
    def __init__(self, settings: FailureSettings, seed: int) -> None:
        self.settings, self.seed = settings, seed

    def _draw(self, server_round: int, partition: int) -> random.Random:
        return random.Random(f"fedkd-failure-{self.seed}-{server_round}-{partition}")

    def fate(self, server_round: int, partition: int) -> str:
        s = self.settings
        u = self._draw(server_round, partition).random()
        if u < s.crash:
            return CRASHED
        if u < s.crash + s.straggle:
            return STRAGGLER
        if u < s.crash + s.straggle + s.corrupt:
            return CORRUPT
        return OK

    def corrupt(self, reply: Message, server_round: int, partition: int) -> str:
        """Spoil the reply's update (in place) as `failures.corruption` says; returns the kind used."""
        rng = self._draw(server_round, partition)
        rng.random()  # the fate's draw
        kind = self.settings.corruption if self.settings.corruption != "any" else rng.choice(KINDS)
        name, record = next(iter(reply.content.array_records.items()))
        arrays = {k: a.numpy().copy() for k, a in record.items()}
        key = next(k for k in sorted(arrays) if np.issubdtype(arrays[k].dtype, np.floating))
        if kind in ("nan", "inf"):
            arrays[key] = arrays[key].astype(np.float32)
            arrays[key].reshape(-1)[0] = np.nan if kind == "nan" else np.inf
        elif kind == "shape":
            arrays[key] = np.zeros(1, dtype=arrays[key].dtype)
        else:
            arrays[f"{key}.bogus"] = arrays.pop(key)
        reply.content[name] = ArrayRecord({k: Array(v) for k, v in arrays.items()})
        return kind

