"""Identities held out of a federation: faces no client and no teacher trains on, kept for the face
verification protocols (the same identities `fedkd-faces` holds out for the same seed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IdentityHoldout:
    """`count` identities chosen by `seed`, removed from every client's data."""

    count: int
    seed: int

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """The held-out identities among `labels` (sorted)."""
        return held_out_labels(labels, self.count, self.seed)


def held_out_labels(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    identities = np.unique(labels)
    if not 2 <= count <= len(identities) - 2:
        raise ValueError(f"eval_identities={count} must be between 2 and {len(identities) - 2} "
                         f"for a face set of {len(identities)} identities")
    return np.sort(np.random.default_rng(seed).permutation(identities)[:count])
