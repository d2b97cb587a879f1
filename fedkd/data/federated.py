"""From the data settings of a federation to each client's train/test tensors.

The data set and its partition are cached on disk (built once, by whichever process comes first)
and memoised per process, so a Ray worker serving many clients loads them once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fedkd.data.cache import cache_key, load_or_build
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.image_data import ImageData
from fedkd.data.lowres import LowResolution
from fedkd.data.partition import PartitionSettings, partition_indices, train_test_split
from fedkd.data.sources import load_image_data
from fedkd.errors import UserError


@dataclass(frozen=True)
class ClientData:
    """One client's split; `train_hr`/`test_hr` are the same images before degradation."""

    partition_id: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_hr: torch.Tensor
    test_hr: torch.Tensor


@dataclass(frozen=True)
class FederationSpec:
    """Everything that decides the clients' data: data set, partition, LR view, client count, seed, cache."""

    dataset: DatasetSettings
    partition: PartitionSettings
    lowres: LowResolution
    num_clients: int
    seed: int
    cache_dir: Path

    def key(self) -> str:
        return json.dumps({"dataset": asdict(self.dataset), "partition": asdict(self.partition),
                           "lowres": asdict(self.lowres), "num_clients": self.num_clients, "seed": self.seed,
                           "cache_dir": str(self.cache_dir)}, sort_keys=True)


_LOADED: dict[str, tuple[ImageData, list[np.ndarray]]] = {}  # per process: the latest federations by key
_KEEP = 2


def _federation(spec: FederationSpec) -> tuple[ImageData, list[np.ndarray]]:
    key = spec.key()
    if key not in _LOADED:
        _LOADED[key] = _build_federation(spec)
        while len(_LOADED) > _KEEP:
            _LOADED.pop(next(iter(_LOADED)))
    return _LOADED[key]


def _build_federation(spec: FederationSpec) -> tuple[ImageData, list[np.ndarray]]:
    data = load_image_data(spec.dataset, spec.cache_dir)
    if len(data.labels) < 2 * spec.num_clients:
        raise UserError(f"simulation.num_clients={spec.num_clients} exceeds half the {len(data.labels)} "
                        f"samples of dataset={data.name}; lower num_clients")

    def build() -> dict[str, np.ndarray]:
        parts = partition_indices(data.labels, spec.partition, spec.num_clients, spec.seed)
        return {"rows": np.concatenate(parts), "sizes": np.array([len(p) for p in parts])}

    identity = {"dataset": asdict(spec.dataset), "partition": asdict(spec.partition), "seed": spec.seed,
                "data_cache": str(spec.cache_dir), "num_clients": spec.num_clients}
    arrays = load_or_build(spec.cache_dir / cache_key("partition", identity), build)
    bounds = np.cumsum(np.concatenate([[0], arrays["sizes"]]))
    parts = [arrays["rows"][bounds[i]:bounds[i + 1]] for i in range(spec.num_clients)]
    return data, parts


def prepare_federation(spec: FederationSpec) -> tuple[ImageData, list[np.ndarray]]:
    """Load (or build and cache) the data set and its partition; fails early on bad data."""
    data, parts = _federation(spec)
    tiny = [i for i, p in enumerate(parts) if len(p) < 2]
    if tiny:
        raise UserError(f"partition={spec.partition.name} left client {tiny[0]} with "
                        f"{len(parts[tiny[0]])} samples; lower simulation.num_clients or change the partition")
    return data, parts


def data_shape(spec: FederationSpec) -> tuple[int, int, int]:
    """(channels, side, classes) of what a model of this federation sees."""
    data, _ = prepare_federation(spec)
    return data.channels, spec.lowres.model_side(data.resolution), data.num_classes


def load_client_data(spec: FederationSpec, partition_id: int) -> ClientData:
    """The train/test split of one client, degraded by the configured LR transform."""
    data, parts = prepare_federation(spec)
    if not 0 <= partition_id < len(parts):
        raise UserError(f"partition-id={partition_id} is outside 0..{len(parts) - 1}; "
                        "check the SuperNode's --node-config")
    return split_client(spec, data, parts[partition_id], partition_id)


def split_client(spec: FederationSpec, data: ImageData, rows: np.ndarray, partition_id: int) -> ClientData:
    """Client `partition_id`'s train/test split of `rows` of `data`, with the LR view and the HR one."""
    train_rows, test_rows = train_test_split(rows, spec.partition.test_fraction, spec.seed * 100_003 + partition_id)
    train_hr, train_y = data.tensors(train_rows)
    test_hr, test_y = data.tensors(test_rows)
    gen = torch.Generator().manual_seed(spec.seed * 7919 + partition_id)
    if spec.lowres.enabled:
        train_x, test_x = spec.lowres(train_hr, gen), spec.lowres(test_hr, gen)
    else:
        train_x, test_x = train_hr, test_hr
    return ClientData(partition_id, train_x, train_y, test_x, test_y, train_hr, test_hr)
