"""From a validated config to each client's train/test tensors.

The data set and its partition are cached on disk (built once, by whichever process comes first)
and memoised per process, so a Ray worker serving many clients loads them once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from fedkd.data.cache import cache_key, load_or_build
from fedkd.data.embedded import load_digits, load_faces, load_mnist_subset
from fedkd.data.image_data import ImageData
from fedkd.data.lowres import LowResolution
from fedkd.data.partition import PartitionSpec, partition_indices, train_test_split
from fedkd.data.synthetic_faces import FaceNuisance, FaceSpec
from fedkd.data.user_data import load_image_folder, load_torchvision
from fedkd.errors import UserError
from fedkd.paths import expand


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


def _data_key(config: dict[str, Any]) -> str:
    return json.dumps({k: config[k] for k in ("dataset", "partition", "seed", "data_cache")}
                      | {"num_clients": config["simulation"]["num_clients"]}, sort_keys=True)


def load_image_data(dataset: dict[str, Any], data_cache: str) -> ImageData:
    name = dataset["name"]
    cache = expand(data_cache)
    if name == "faces":
        fields = {k: v for k, v in dataset.items() if k not in ("name", "nuisance")}
        return load_faces(FaceSpec(**fields, nuisance=FaceNuisance(**dataset["nuisance"])), cache)
    if name == "digits":
        return load_digits()
    if name == "mnist_subset":
        return load_mnist_subset()
    if name == "imagefolder":
        return load_image_folder(expand(dataset["root"]), dataset["resolution"], dataset["grayscale"], cache)
    return load_torchvision(name, expand(dataset["root"]), dataset["download"])


@lru_cache(maxsize=2)
def _federation(key: str) -> tuple[ImageData, list[np.ndarray]]:
    config = json.loads(key)
    data = load_image_data(config["dataset"], config["data_cache"])
    part = {k: v for k, v in config["partition"].items() if k not in ("name", "test_fraction")}
    spec = PartitionSpec(kind=config["partition"]["name"], num_clients=config["num_clients"],
                         seed=config["seed"], **part)
    if len(data.labels) < 2 * spec.num_clients:
        raise UserError(f"simulation.num_clients={spec.num_clients} exceeds half the {len(data.labels)} "
                        f"samples of dataset={data.name}; lower num_clients")

    def build() -> dict[str, np.ndarray]:
        parts = partition_indices(data.labels, spec)
        return {"rows": np.concatenate(parts), "sizes": np.array([len(p) for p in parts])}

    arrays = load_or_build(expand(config["data_cache"]) / cache_key("partition", json.loads(key)), build)
    bounds = np.cumsum(np.concatenate([[0], arrays["sizes"]]))
    parts = [arrays["rows"][bounds[i]:bounds[i + 1]] for i in range(spec.num_clients)]
    return data, parts


def prepare_federation(config: dict[str, Any]) -> tuple[ImageData, list[np.ndarray]]:
    """Load (or build and cache) the data set and its partition; fails early on bad data."""
    data, parts = _federation(_data_key(config))
    tiny = [i for i, p in enumerate(parts) if len(p) < 2]
    if tiny:
        raise UserError(f"partition={config['partition']['name']} left client {tiny[0]} with "
                        f"{len(parts[tiny[0]])} samples; lower simulation.num_clients or change the partition")
    return data, parts


def lowres_transform(config: dict[str, Any]) -> LowResolution | None:
    lr = config["lowres"]
    if not lr["enabled"]:
        return None
    return LowResolution(size=lr["size"], kernel=lr["kernel"], blur_sigma=lr["blur_sigma"],
                         noise_std=lr["noise_std"], upsample=lr["upsample"])


def model_side(config: dict[str, Any], resolution: int) -> int:
    """Input side of the model for images of side `resolution` after the configured LR transform."""
    lr = config["lowres"]
    return lr["size"] if lr["enabled"] and not lr["upsample"] else resolution


def input_shape(config: dict[str, Any]) -> tuple[int, int]:
    """(channels, side) of what the model sees."""
    data, _ = prepare_federation(config)
    return data.channels, model_side(config, data.resolution)


def num_classes(config: dict[str, Any]) -> int:
    return prepare_federation(config)[0].num_classes


def load_client_data(config: dict[str, Any], partition_id: int) -> ClientData:
    """The train/test split of one client, degraded by the configured LR transform."""
    data, parts = prepare_federation(config)
    if not 0 <= partition_id < len(parts):
        raise UserError(f"partition-id={partition_id} is outside 0..{len(parts) - 1}; "
                        "check the SuperNode's --node-config")
    return split_client(config, data, parts[partition_id], partition_id)


def split_client(config: dict[str, Any], data: ImageData, rows: np.ndarray, partition_id: int) -> ClientData:
    """Client `partition_id`'s train/test split of `rows` of `data`, with the LR view and the HR one."""
    train_rows, test_rows = train_test_split(
        rows, config["partition"]["test_fraction"], config["seed"] * 100_003 + partition_id
    )
    train_hr, train_y = data.tensors(train_rows)
    test_hr, test_y = data.tensors(test_rows)
    transform = lowres_transform(config)
    gen = torch.Generator().manual_seed(config["seed"] * 7919 + partition_id)
    train_x, test_x = (transform(train_hr, gen), transform(test_hr, gen)) if transform else (train_hr, test_hr)
    return ClientData(partition_id, train_x, train_y, test_x, test_y, train_hr, test_hr)
