"""Typed view over a client's Flower `context.state`, with a checkpoint format on disk.

Everything a client keeps across rounds lives here: counters now; historical models and privacy
accountants later. A state is a Flower `RecordDict`, so it travels with the node in simulation
and in deployment; `save`/`load` write it to one `.npz` file so that a run can be resumed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, RecordDict

COUNTERS = "fedkd.counters"


class ClientState:
    def __init__(self, record: RecordDict) -> None:
        self.record = record

    # Counters -------------------------------------------------------------------------------
    def counters(self) -> ConfigRecord:
        if COUNTERS not in self.record.config_records:
            self.record[COUNTERS] = ConfigRecord({"participations": 0, "last_round": 0})
        return self.record.config_records[COUNTERS]

    def record_participation(self, server_round: int) -> int:
        """Count one more participation in `server_round`; returns the new count."""
        counters = self.counters()
        counters["participations"] = int(counters["participations"]) + 1
        counters["last_round"] = server_round
        return int(counters["participations"])

    # Models ---------------------------------------------------------------------------------
    def put_model(self, name: str, state_dict: dict[str, torch.Tensor], half: bool = False) -> None:
        """Store a model's weights; `half` keeps floating tensors in float16 (half the memory)."""
        tensors = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu()
                   for k, v in state_dict.items()}
        self.record[name] = ArrayRecord(tensors)

    def get_model(self, name: str, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor] | None:
        if name not in self.record.array_records:
            return None
        return {k: (v.to(dtype) if v.is_floating_point() else v)
                for k, v in self.record.array_records[name].to_torch_state_dict().items()}

    def nbytes(self) -> int:
        return sum(arr.numpy().nbytes for rec in self.record.array_records.values()
                   for arr in rec.values())

    # Checkpoints ----------------------------------------------------------------------------
    def save(self, target: Path | BinaryIO) -> None:
        """Write the state as one .npz (to a path or an open binary file)."""
        arrays = {f"array/{name}/{key}": arr.numpy()
                  for name, rec in self.record.array_records.items() for key, arr in rec.items()}
        configs = {name: dict(rec) for name, rec in self.record.config_records.items()}
        np.savez(target, __configs__=np.array(json.dumps(configs)), **arrays)

    @classmethod
    def load(cls, path: Path) -> ClientState:
        record = RecordDict()
        with np.load(path) as data:
            groups: dict[str, dict[str, np.ndarray]] = {}
            for full in data.files:
                if full.startswith("array/"):
                    _, name, key = full.split("/", 2)
                    groups.setdefault(name, {})[key] = data[full]
            for name, configs in json.loads(str(data["__configs__"])).items():
                record[name] = ConfigRecord(configs)
        for name, arrays in groups.items():
            record[name] = ArrayRecord({k: torch.from_numpy(v) for k, v in arrays.items()})
        return cls(record)
