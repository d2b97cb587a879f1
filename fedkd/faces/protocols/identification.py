"""Closed-set identification: each probe is ranked against a gallery of enrolled identities.

A probe's rank is the position of its true identity when identities are ordered by their best
gallery-image similarity; rank-k accuracy is the share of probes with rank <= k (the CMC curve at k).
"""

from __future__ import annotations

import numpy as np


def gallery_probe_split(labels: np.ndarray, gallery_per_identity: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the gallery (first `gallery_per_identity` shuffled images per identity) and the probes."""
    rng = np.random.default_rng(seed)
    gallery, probe = [], []
    for identity in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == identity))
        if len(rows) <= gallery_per_identity:
            raise ValueError(f"identity {identity} has {len(rows)} images; identification needs more than "
                             f"gallery_per_identity={gallery_per_identity}")
        gallery.extend(rows[:gallery_per_identity])
        probe.extend(rows[gallery_per_identity:])
    return np.array(gallery), np.array(probe)


def rank_k_accuracy(probe_embeddings: np.ndarray, probe_labels: np.ndarray, gallery_embeddings: np.ndarray,
                    gallery_labels: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    identities = np.unique(gallery_labels)
    similarity = probe_embeddings @ gallery_embeddings.T
    best = np.stack([similarity[:, gallery_labels == c].max(1) for c in identities], axis=1)
    true_column = np.searchsorted(identities, probe_labels)
    true_score = best[np.arange(len(probe_labels)), true_column]
    rank = 1 + (best > true_score[:, None]).sum(1)
    return {k: float((rank <= k).mean()) for k in ks}
