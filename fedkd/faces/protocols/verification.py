"""Pair verification: 10-fold accuracy with the threshold chosen on 9 folds, and TAR at fixed FAR.

The 10-fold protocol is the one of Labeled Faces in the Wild (Huang et al., 2007): pairs are split into
10 folds; for each fold the threshold that maximises accuracy on the other nine is applied to it; the mean
and standard deviation of the ten accuracies are reported. TAR@FAR reads the true-accept rate off the ROC
at the threshold whose false-accept rate over the negative pairs is at most the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def make_pairs(labels: np.ndarray, num_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced pairs (half same identity, half different) drawn without repeats: (first, second, same); fewer
    of a kind when the set has fewer distinct pairs of that kind."""
    rng = np.random.default_rng(seed)
    by_id = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    multi = [rows for rows in by_id if len(rows) >= 2]
    if not multi or len(by_id) < 2:
        raise ValueError("verification needs at least two identities and one with two or more images")
    half = num_pairs // 2
    positives: set[tuple[int, int]] = set()
    limit = sum(len(r) * (len(r) - 1) // 2 for r in multi)
    while len(positives) < min(half, limit):
        rows = multi[rng.integers(len(multi))]
        a, b = sorted(rng.choice(rows, 2, replace=False))
        positives.add((int(a), int(b)))
    negatives: set[tuple[int, int]] = set()
    negative_limit = len(labels) * (len(labels) - 1) // 2 - sum(len(r) * (len(r) - 1) // 2 for r in by_id)
    while len(negatives) < min(half, negative_limit):
        a, b = sorted(rng.choice(len(labels), 2, replace=False))
        if labels[a] != labels[b]:
            negatives.add((int(a), int(b)))
    pairs = np.array(sorted(positives) + sorted(negatives))
    same = np.r_[np.ones(len(positives), bool), np.zeros(len(negatives), bool)]
    order = rng.permutation(len(pairs))
    return pairs[order, 0], pairs[order, 1], same[order]


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (accept when score >= threshold) with the highest accuracy on these pairs."""
    candidates = np.unique(scores)
    mids = np.r_[candidates[0] - 1e-6, (candidates[:-1] + candidates[1:]) / 2, candidates[-1] + 1e-6]
    order = np.argsort(scores, kind="stable")
    below = np.searchsorted(scores[order], mids, side="left")  # pairs rejected at each threshold
    same_below = np.r_[0, np.cumsum(same[order])][below]
    accuracy = (same.sum() - same_below + (below - same_below)) / len(scores)
    return float(mids[int(np.argmax(accuracy))])


def ten_fold_accuracy(scores: np.ndarray, same: np.ndarray, folds: int = 10) -> tuple[float, float]:
    """Mean and std of the per-fold accuracies, each fold scored with a threshold fit on the others."""
    fold_of = np.arange(len(scores)) % folds
    accuracies = []
    for k in range(folds):
        test = fold_of == k
        threshold = best_threshold(scores[~test], same[~test])
        accuracies.append(((scores[test] >= threshold) == same[test]).mean())
    return float(np.mean(accuracies)), float(np.std(accuracies))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """True-accept rate at the lowest threshold whose false-accept rate is at most `far`."""
    negatives = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(negatives)))
    threshold = negatives[allowed] if allowed < len(negatives) else -np.inf
    return float((scores[same] > threshold).mean())


@lru_cache(maxsize=8)
def _cached_pairs(label_bytes: bytes, dtype: str, num_pairs: int, seed: int) -> tuple[np.ndarray, ...]:
    pairs = make_pairs(np.frombuffer(label_bytes, dtype=dtype), num_pairs, seed)
    for array in pairs:
        array.flags.writeable = False
    return pairs


def pairs_for(labels: np.ndarray, num_pairs: int, seed: int) -> tuple[np.ndarray, ...]:
    """`make_pairs`, drawn once per (labels, num_pairs, seed): a federated run verifies every client's model on
    the same held-out faces every evaluation round, and drawing the pairs was most of its cost."""
    labels = np.ascontiguousarray(labels)
    return _cached_pairs(labels.tobytes(), labels.dtype.str, num_pairs, seed)


@dataclass(frozen=True)
class VerificationResult:
    accuracy: float
    accuracy_std: float
    tar: dict[float, float]
    num_pairs: int
    num_negative_pairs_roc: int

    def as_dict(self, prefix: str = "verification") -> dict[str, float]:
        out = {f"{prefix}_accuracy": self.accuracy, f"{prefix}_accuracy_std": self.accuracy_std}
        return out | {f"{prefix}_tar@far={far:g}": v for far, v in self.tar.items()}


def verify(embeddings: np.ndarray, labels: np.ndarray, num_pairs: int, seed: int,
           fars: tuple[float, ...] = (1e-3, 1e-2), folds: int = 10) -> VerificationResult:
    """Accuracy on balanced pairs; TAR@FAR on the ROC of all pairs of the set (many more negatives).

    `embeddings` are unit-normalised rows; the pair score is their cosine similarity.
    """
    first, second, same = pairs_for(labels, num_pairs, seed)
    scores = np.sum(embeddings[first] * embeddings[second], axis=1)
    mean, std = ten_fold_accuracy(scores, same, folds)
    upper = np.triu_indices(len(labels), k=1)
    all_scores = (embeddings @ embeddings.T)[upper]
    all_same = (labels[:, None] == labels[None, :])[upper]
    tar = {far: tar_at_far(all_scores, all_same, far) for far in fars}
    return VerificationResult(mean, std, tar, len(same), int((~all_same).sum()))
