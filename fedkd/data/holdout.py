"""Identities held out of a federation: faces no client and no teacher trains on, kept for the face
verification protocols (the same identities `fedkd-faces` holds out for the same seed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedkd.errors import UserError


@dataclass(frozen=True)
class IdentityHoldout:
    """`count` identities chosen by `seed`, removed from every client's data."""

    count: int
    seed: int
    key: str = "workload.eval_identities"

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """The held-out identities among `labels` (sorted)."""
        return held_out_labels(labels, self.count, self.seed, self.key)


def held_out_labels(labels: np.ndarray, count: int, seed: int,
                    key: str = "evaluation.eval_identities") -> np.ndarray:
    """`count` identities of `labels` chosen by `seed`; at least 2 are held out and 2 left to train on."""
    identities = np.unique(labels)
    if not 2 <= count <= len(identities) - 2:
        suggestion = max(2, min(len(identities) - 2, len(identities) // 5))
        if len(identities) < 4:
            raise UserError(f"the face set has {len(identities)} identities; verification needs at least 4 (2 held "
                            "out, 2 to train on): add identities or use another data set")
        raise UserError(f"{key}={count} does not fit a face set of {len(identities)} identities (allowed: 2 to "
                        f"{len(identities) - 2}, leaving at least 2 to train on); set {key}={suggestion} "
                        "(a fifth of the identities)")
    held_out = np.sort(np.random.default_rng(seed).permutation(identities)[:count])
    if np.isin(labels, held_out).sum() == count:  # one image each: no same-identity pair to verify
        most = int(np.unique(labels, return_counts=True)[1].max())
        raise UserError(f"the {count} held-out identities ({key}={count}) have one image each, and verification needs "
                        f"two images of one identity; give identities at least 2 images (the most this set has is "
                        f"{most})")
    return held_out
