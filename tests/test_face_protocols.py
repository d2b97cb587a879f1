"""Face protocols: 10-fold verification, TAR@FAR and rank-k identification on inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedkd.faces.protocols.identification import gallery_probe_split, rank_k_accuracy
from fedkd.faces.protocols.verification import make_pairs, pairs_for, tar_at_far, ten_fold_accuracy, verify


def clustered_embeddings(identities: int, per_identity: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, 64))
    labels = np.repeat(np.arange(identities), per_identity)
    x = centres[labels] + spread * rng.normal(size=(len(labels), 64))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def test_pairs_are_balanced_and_correctly_labelled():
    labels = np.repeat(np.arange(20), 5)
    first, second, same = make_pairs(labels, 400, seed=0)
    assert same.sum() == 200 and (~same).sum() == 200
    assert np.array_equal(labels[first] == labels[second], same)
    assert len({(a, b) for a, b in zip(first, second, strict=True)}) == 400


def test_separable_embeddings_verify_perfectly():
    x, labels = clustered_embeddings(30, 6, spread=0.05, seed=0)
    result = verify(x, labels, num_pairs=600, seed=0)
    assert result.accuracy == 1.0 and result.accuracy_std == 0.0
    assert result.tar[1e-3] == 1.0 and result.tar[1e-2] == 1.0


def test_random_embeddings_verify_at_chance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 64))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    result = verify(x, np.repeat(np.arange(30), 10), num_pairs=2000, seed=0)
    assert abs(result.accuracy - 0.5) < 0.05


def test_ten_fold_accuracy_reaches_the_bayes_rate_of_two_gaussians():
    # Scores N(+1, 1) for positives and N(-1, 1) for negatives: the best threshold is 0 and the
    # Bayes accuracy is Φ(1) = 0.8413.
    rng = np.random.default_rng(0)
    same = np.r_[np.ones(20000, bool), np.zeros(20000, bool)]
    scores = np.where(same, 1.0, -1.0) + rng.normal(size=len(same))
    order = rng.permutation(len(same))
    mean, std = ten_fold_accuracy(scores[order], same[order])
    assert mean == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))), abs=0.006)
    assert std < 0.02


def test_tar_at_far_on_a_hand_made_roc():
    # 1000 negatives at 0.000..0.999; FAR 1e-2 allows 10 false accepts: threshold 0.989 (accept > it).
    negatives = np.arange(1000) / 1000
    positives = np.array([0.95, 0.985, 0.99, 0.995, 1.5])
    scores, same = np.r_[positives, negatives], np.r_[np.ones(5, bool), np.zeros(1000, bool)]
    assert tar_at_far(scores, same, 1e-2) == pytest.approx(3 / 5)
    assert tar_at_far(scores, same, 1e-3) == pytest.approx(1 / 5)  # one false accept: threshold 0.998


def test_identification_ranks_by_hand():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    gallery_labels = np.array([0, 1, 2])
    probes = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    probe_labels = np.array([0, 2, 2])
    # Probe 0 → identity 0 first; probe 1 → identity 1 (1.0) before 2 (0.8): rank 2; probe 2 → 2 first (0.96).
    ranks = rank_k_accuracy(probes, probe_labels, gallery, gallery_labels, ks=(1, 2))
    assert ranks == {1: pytest.approx(2 / 3), 2: 1.0}


def test_gallery_probe_split_is_disjoint_and_covers_every_identity():
    labels = np.repeat(np.arange(10), 4)
    gallery, probe = gallery_probe_split(labels, 1, seed=3)
    assert len(gallery) == 10 and len(probe) == 30 and not set(gallery) & set(probe)
    assert sorted(labels[gallery]) == list(range(10))
    with pytest.raises(ValueError, match="gallery_per_identity=4"):
        gallery_probe_split(labels, 4, seed=0)


def test_best_threshold_is_the_brute_force_argmax_including_ties():
    from fedkd.faces.protocols.verification import best_threshold

    rng = np.random.default_rng(1)
    for _ in range(100):
        n = int(rng.integers(2, 60))
        scores = np.round(rng.normal(size=n), 1)  # rounded: many ties
        same = rng.random(n) < 0.5
        candidates = np.unique(scores)
        mids = np.r_[candidates[0] - 1e-6, (candidates[:-1] + candidates[1:]) / 2, candidates[-1] + 1e-6]
        brute = [((scores >= t) == same).mean() for t in mids]
        assert best_threshold(scores, same) == mids[int(np.argmax(brute))]


def test_cached_pairs_equal_fresh_ones_and_follow_the_labels():
    labels = np.repeat(np.arange(12), 5)
    fresh = make_pairs(labels, 200, seed=3)
    cached = pairs_for(labels.copy(), 200, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(fresh, cached, strict=True))
    assert pairs_for(labels, 200, seed=3)[0] is cached[0]
    other = np.r_[labels[5:], labels[:5]]  # the same multiset of labels on other rows: a different cache entry
    first, second, same = pairs_for(other, 200, seed=3)
    assert np.array_equal(same, other[first] == other[second])
    with pytest.raises(ValueError):
        cached[0][0] = 1


@pytest.mark.parametrize(("count", "key", "message"), [
    (50, "evaluation.eval_identities", r"evaluation\.eval_identities=50 does not fit a face set of 30 identities "
                                       r"\(allowed: 2 to 28.*set evaluation\.eval_identities=6"),
    (1, "workload.eval_identities", r"workload\.eval_identities=1 does not fit .* set workload\.eval_identities=6"),
])
def test_a_face_set_smaller_than_the_held_out_count_is_one_line_with_a_fitting_value(count, key, message):
    """Real face sets often have fewer identities than the default 50 held out (the count is only known once
    the images are read)."""
    from fedkd.data.holdout import held_out_labels
    from fedkd.errors import UserError

    labels = np.repeat(np.arange(30), 3)
    with pytest.raises(UserError, match=message):
        held_out_labels(labels, count, 0, key)
    assert len(held_out_labels(labels, 6, 0, key)) == 6
    with pytest.raises(UserError, match="has 3 identities; verification needs at least 4"):
        held_out_labels(np.arange(3), 2, 0, key)
