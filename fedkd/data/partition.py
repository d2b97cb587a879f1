"""Client partitions of a labelled data set, deterministic from a seed.

IID, Dirichlet label skew and pathological k-labels-per-client come from flwr-datasets'
partitioners. Rows are shuffled with the seed first: `IidPartitioner` shards contiguously, which
on label-sorted data would not be IID. Identity-disjoint partitions are built here, because
`GroupedNaturalIdPartitioner` derives the number of clients from a group size instead of taking it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedkd.errors import UserError

PARTITION_KINDS = ("iid", "dirichlet", "pathological", "identity")


@dataclass(frozen=True)
class PartitionSpec:
    kind: str
    num_clients: int
    seed: int
    alpha: float = 0.5
    min_partition_size: int = 10
    self_balancing: bool = False
    labels_per_client: int = 2
    class_assignment: str = "first-deterministic"


def _flwr_partitioner(spec: PartitionSpec):
    from flwr_datasets import partitioner as fp  # imported lazily: pulls in `datasets` (slow)

    if spec.kind == "iid":
        return fp.IidPartitioner(num_partitions=spec.num_clients)
    if spec.kind == "dirichlet":
        return fp.DirichletPartitioner(
            num_partitions=spec.num_clients, partition_by="label", alpha=spec.alpha,
            min_partition_size=spec.min_partition_size, self_balancing=spec.self_balancing,
            shuffle=True, seed=spec.seed,
        )
    return fp.PathologicalPartitioner(
        num_partitions=spec.num_clients, partition_by="label",
        num_classes_per_partition=spec.labels_per_client,
        class_assignment_mode=spec.class_assignment, shuffle=True, seed=spec.seed,
    )


def _identity_disjoint(labels: np.ndarray, spec: PartitionSpec) -> list[np.ndarray]:
    identities = np.unique(labels)
    if len(identities) < spec.num_clients:
        raise UserError(
            f"partition=identity needs at least one identity per client: {len(identities)} "
            f"identities < simulation.num_clients={spec.num_clients}; lower num_clients"
        )
    rng = np.random.default_rng(spec.seed)
    groups = np.array_split(rng.permutation(identities), spec.num_clients)
    return [np.flatnonzero(np.isin(labels, group)) for group in groups]


def partition_indices(labels: np.ndarray, spec: PartitionSpec) -> list[np.ndarray]:
    """Split row indices of `labels` over `spec.num_clients` clients (sorted index arrays)."""
    if spec.kind not in PARTITION_KINDS:
        raise UserError(f"partition.name={spec.kind!r} is unknown; allowed: {', '.join(PARTITION_KINDS)}")
    if spec.kind == "identity":
        return [np.sort(p) for p in _identity_disjoint(labels, spec)]

    from datasets import Dataset

    order = np.random.default_rng(spec.seed).permutation(len(labels))
    table = Dataset.from_dict({"label": labels[order].tolist(), "row": order.tolist()})
    partitioner = _flwr_partitioner(spec)
    partitioner.dataset = table
    try:
        parts = [np.asarray(partitioner.load_partition(i)["row"], dtype=np.int64)
                 for i in range(spec.num_clients)]
    except ValueError as err:
        raise UserError(
            f"partition={spec.kind} could not be built for {spec.num_clients} clients "
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
