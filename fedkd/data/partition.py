"""Client partitions of a labelled data set, deterministic from a seed.

IID, Dirichlet label skew and pathological k-labels-per-client come from flwr-datasets'
partitioners. Rows are shuffled with the seed first: `IidPartitioner` shards contiguously, which
on label-sorted data would not be IID. Identity-disjoint partitions are built here, because
`GroupedNaturalIdPartitioner` derives the number of clients from a group size instead of taking it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import MISSING

from fedkd.config.fields import above, at_least, below, one_of, setting
from fedkd.config.registry import Registry
from fedkd.errors import UserError

CLASS_ASSIGNMENTS = ("random", "deterministic", "first-deterministic")


@dataclass
class PartitionSettings:
    """What every partition has: its name, each client's test share and the validation share of the rest."""

    name: str = MISSING
    test_fraction: float = setting(0.2, above(0), below(1), help="share of each client's samples held out for test")
    validation_fraction: float = setting(0.1, at_least(0), below(1), help="share of each client's remaining "
                                         "samples held out for validation (what tuning scores); 0 = none")

    def flwr_partitioner(self, num_clients: int, seed: int) -> Any:
        """The flwr-datasets partitioner; None where this module builds the partition itself."""
        return None


@dataclass
class IidPartition(PartitionSettings):
    """`partition=iid`: equal random shares."""

    name: str = "iid"

    def flwr_partitioner(self, num_clients: int, seed: int) -> Any:
        from flwr_datasets import partitioner as fp  # imported lazily: pulls in `datasets` (slow)

        return fp.IidPartitioner(num_partitions=num_clients)


@dataclass
class DirichletPartition(PartitionSettings):
    """`partition=dirichlet`: label skew, class proportions per client ~ Dirichlet(alpha)."""

    name: str = "dirichlet"
    alpha: float = setting(0.5, above(0), help="smaller = more skewed")
    min_partition_size: int = setting(10, at_least(1), help="resample (at most 10 tries) until every client has "
                                      "this many samples")
    self_balancing: bool = setting(False)

    def flwr_partitioner(self, num_clients: int, seed: int) -> Any:
        from flwr_datasets import partitioner as fp

        return fp.DirichletPartitioner(num_partitions=num_clients, partition_by="label", alpha=self.alpha,
                                       min_partition_size=self.min_partition_size,
                                       self_balancing=self.self_balancing, shuffle=True, seed=seed)


@dataclass
class PathologicalPartition(PartitionSettings):
    """`partition=pathological`: k labels per client."""

    name: str = "pathological"
    labels_per_client: int = setting(2, at_least(1))
    class_assignment: str = setting("first-deterministic", one_of(CLASS_ASSIGNMENTS))

    def flwr_partitioner(self, num_clients: int, seed: int) -> Any:
        from flwr_datasets import partitioner as fp

        return fp.PathologicalPartitioner(num_partitions=num_clients, partition_by="label",
                                          num_classes_per_partition=self.labels_per_client,
                                          class_assignment_mode=self.class_assignment, shuffle=True, seed=seed)


@dataclass
class IdentityPartition(PartitionSettings):
    """`partition=identity`: every identity (label) belongs to exactly one client."""

    name: str = "identity"


PARTITIONS: Registry[PartitionSettings] = Registry("partition")
for _settings in (DirichletPartition(), IidPartition(), PathologicalPartition(), IdentityPartition()):
    PARTITIONS.add(_settings.name, _settings)


def _identity_disjoint(labels: np.ndarray, num_clients: int, seed: int) -> list[np.ndarray]:
    identities = np.unique(labels)
    if len(identities) < num_clients:
        raise UserError(
            f"partition=identity needs at least one identity per client: {len(identities)} "
            f"identities < simulation.num_clients={num_clients}; lower num_clients"
        )
    rng = np.random.default_rng(seed)
    groups = np.array_split(rng.permutation(identities), num_clients)
    return [np.flatnonzero(np.isin(labels, group)) for group in groups]


def partition_indices(labels: np.ndarray, settings: PartitionSettings, num_clients: int,
                      seed: int) -> list[np.ndarray]:
    """Split row indices of `labels` over `num_clients` clients (sorted index arrays)."""
    partitioner = settings.flwr_partitioner(num_clients, seed)
    if partitioner is None:
        return [np.sort(p) for p in _identity_disjoint(labels, num_clients, seed)]

    from datasets import Dataset

    order = np.random.default_rng(seed).permutation(len(labels))
    partitioner.dataset = Dataset.from_dict({"label": labels[order].tolist(), "row": order.tolist()})
    try:
        parts = [np.asarray(partitioner.load_partition(i)["row"], dtype=np.int64) for i in range(num_clients)]
    except ValueError as err:
        raise UserError(
            f"partition={settings.name} could not be built for {num_clients} clients "
            f"({err}); for dirichlet raise partition.alpha or lower partition.min_partition_size"
        ) from None
    return [np.sort(p) for p in parts]


def train_test_split(indices: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-client split; every client with at least 2 samples gets at least 1 of each."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(indices)
    n_test = round(test_fraction * len(shuffled))
    if len(shuffled) >= 2:
        n_test = min(max(n_test, 1), len(shuffled) - 1)
    return np.sort(shuffled[n_test:]), np.sort(shuffled[:n_test])
