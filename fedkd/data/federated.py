"""From the data settings of a federation to each client's train/validation/test tensors.

Each client's rows are split into test (`partition.test_fraction`), then validation
(`partition.validation_fraction` of the rest) and train. A client sees one evaluation split: its test
split, or with `simulation.evaluate_split=validation` (what tuning runs use) its validation split, in
which case the test rows are never read. Identities a workload holds out (`IdentityHoldout`, the face
verification identities) are removed before partitioning.

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
from fedkd.data.holdout import IdentityHoldout
from fedkd.data.image_data import ImageData
from fedkd.data.lowres import LowResolution
from fedkd.data.partition import PartitionSettings, partition_indices, train_test_split
from fedkd.data.sources import load_image_data
from fedkd.errors import UserError

EVALUATE_SPLITS = ("test", "validation")


@dataclass(frozen=True)
class ClientData:
    """One client's split; `train_hr`/`test_hr` are the same images before degradation. `test_*` is the split
    this client evaluates on: its test split, or its validation split where `evaluation_split` says so."""

    partition_id: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_hr: torch.Tensor
    test_hr: torch.Tensor
    evaluation_split: str = "test"


@dataclass(frozen=True)
class FederationSpec:
    """Everything that decides the clients' data: data set, partition, LR view, client count, seed, cache."""

    dataset: DatasetSettings
    partition: PartitionSettings
    lowres: LowResolution
    num_clients: int
    seed: int
    cache_dir: Path
    evaluate_split: str = "test"
    holdout: IdentityHoldout | None = None

    def key(self) -> str:
        return json.dumps({"dataset": asdict(self.dataset), "partition": asdict(self.partition),
                           "lowres": asdict(self.lowres), "num_clients": self.num_clients, "seed": self.seed,
                           "cache_dir": str(self.cache_dir), "evaluate_split": self.evaluate_split,
                           "holdout": None if self.holdout is None else asdict(self.holdout)}, sort_keys=True)


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

    pool = partitioned_rows(spec, data)

    def build() -> dict[str, np.ndarray]:
        parts = [pool[p] for p in partition_indices(data.labels[pool], spec.partition, spec.num_clients, spec.seed)]
        return {"rows": np.concatenate(parts), "sizes": np.array([len(p) for p in parts])}

    identity = {"dataset": asdict(spec.dataset), "partition": asdict(spec.partition), "seed": spec.seed,
                "data_cache": str(spec.cache_dir), "num_clients": spec.num_clients}
    if spec.holdout is not None:
        identity["holdout"] = asdict(spec.holdout)
    arrays = load_or_build(spec.cache_dir / cache_key("partition", identity), build)
    bounds = np.cumsum(np.concatenate([[0], arrays["sizes"]]))
    parts = [arrays["rows"][bounds[i]:bounds[i + 1]] for i in range(spec.num_clients)]
    return data, parts


def partitioned_rows(spec: FederationSpec, data: ImageData) -> np.ndarray:
    """Rows the clients share out: all, or all but the held-out identities'."""
    if spec.holdout is None:
        return np.arange(len(data.labels))
    return np.flatnonzero(~np.isin(data.labels, spec.holdout.labels(data.labels)))


def held_out_faces(spec: FederationSpec) -> tuple[torch.Tensor, np.ndarray]:
    """The held-out identities' images as a model sees them (LR view, fixed noise) and their labels."""
    if spec.holdout is None:
        raise ValueError("this federation holds no identities out")
    data, _ = prepare_federation(spec)
    rows = np.flatnonzero(np.isin(data.labels, spec.holdout.labels(data.labels)))
    hr, labels = data.tensors(rows)
    x = spec.lowres(hr, torch.Generator().manual_seed(spec.seed * 7919 - 1)) if spec.lowres.enabled else hr
    return x, labels.numpy()


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
    """Client `partition_id`'s train split of `rows` of `data` and its evaluation split (test, or validation with
    `spec.evaluate_split=validation`: then the test rows are not read), with the LR view and the HR one."""
    train_rows, validation_rows, test_rows = client_splits(rows, spec.partition, spec.seed * 100_003 + partition_id)
    evaluated = test_rows if spec.evaluate_split == "test" else validation_rows
    train_hr, train_y = data.tensors(train_rows)
    test_hr, test_y = data.tensors(evaluated)
    gen = torch.Generator().manual_seed(spec.seed * 7919 + partition_id)
    if spec.lowres.enabled:
        train_x, test_x = spec.lowres(train_hr, gen), spec.lowres(test_hr, gen)
    else:
        train_x, test_x = train_hr, test_hr
    return ClientData(partition_id, train_x, train_y, test_x, test_y, train_hr, test_hr, spec.evaluate_split)


def client_splits(rows: np.ndarray, partition: PartitionSettings,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) rows of one client: the test split first (the same rows whatever the validation
    share), then the validation split from the rest; validation is empty when the share is 0."""
    rest, test_rows = train_test_split(rows, partition.test_fraction, seed)
    if partition.validation_fraction == 0:
        return rest, rest[:0], test_rows
    train_rows, validation_rows = train_test_split(rest, partition.validation_fraction, seed + 1)
    return train_rows, validation_rows, test_rows
