import numpy as np
import pytest

from fedkd.data.partition import (
    DirichletPartition,
    IdentityPartition,
    IidPartition,
    PathologicalPartition,
    partition_indices,
    train_test_split,
)
from fedkd.errors import UserError

LABELS = np.repeat(np.arange(20), 30)  # label-sorted, like the face set


def _check_disjoint_cover(parts, n):
    rows = np.concatenate(parts)
    assert len(rows) == len(np.unique(rows)) == n


def test_iid_balanced_and_shuffled():
    parts = partition_indices(LABELS, IidPartition(), num_clients=6, seed=0)
    _check_disjoint_cover(parts, len(LABELS))
    assert {len(p) for p in parts} == {100}
    assert all(len(np.unique(LABELS[p])) >= 15 for p in parts)  # not contiguous label blocks


@pytest.mark.parametrize("settings", [IidPartition(), DirichletPartition(alpha=0.5),
                                      PathologicalPartition(labels_per_client=3), IdentityPartition()],
                         ids=["iid", "dirichlet", "pathological", "identity"])
def test_deterministic_from_seed(settings):
    a, b = partition_indices(LABELS, settings, 5, seed=7), partition_indices(LABELS, settings, 5, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    other = partition_indices(LABELS, settings, 5, seed=8)
    assert any(not np.array_equal(x, y) for x, y in zip(a, other, strict=True))


def _mean_label_entropy(parts):
    ent = []
    for p in parts:
        q = np.bincount(LABELS[p], minlength=20) / len(p)
        q = q[q > 0]
        ent.append(-(q * np.log(q)).sum())
    return float(np.mean(ent))


def test_dirichlet_skew_grows_as_alpha_shrinks_and_min_size_holds():
    skewed = partition_indices(LABELS, DirichletPartition(alpha=0.1, min_partition_size=10), 6, seed=0)
    flat = partition_indices(LABELS, DirichletPartition(alpha=100.0), 6, seed=0)
    _check_disjoint_cover(skewed, len(LABELS))
    assert min(len(p) for p in skewed) >= 10
    assert _mean_label_entropy(skewed) < _mean_label_entropy(flat) - 0.5


def test_dirichlet_impossible_guard_is_a_user_error():
    with pytest.raises(UserError, match=r"raise partition\.alpha"):
        partition_indices(LABELS, DirichletPartition(alpha=0.01, min_partition_size=59), 10, seed=0)


def test_pathological_k_labels():
    parts = partition_indices(LABELS, PathologicalPartition(labels_per_client=2), 10, seed=0)
    assert all(1 <= len(np.unique(LABELS[p])) <= 2 for p in parts)
    rows = np.concatenate(parts)  # classes no client drew are left out (flwr-datasets behaviour)
    assert len(rows) == len(np.unique(rows))


def test_identity_disjoint():
    parts = partition_indices(LABELS, IdentityPartition(), 6, seed=0)
    owners = [set(np.unique(LABELS[p])) for p in parts]
    assert sum(len(o) for o in owners) == 20 and set().union(*owners) == set(range(20))
    _check_disjoint_cover(parts, len(LABELS))
    with pytest.raises(UserError, match="identity per client"):
        partition_indices(LABELS, IdentityPartition(), 21, seed=0)


def test_train_test_split():
    train, test = train_test_split(np.arange(50, 60), 0.2, seed=1)
    assert len(test) == 2 and len(train) == 8 and not set(train) & set(test)
    train, test = train_test_split(np.array([3, 4]), 0.01, seed=1)
    assert len(train) == 1 and len(test) == 1
