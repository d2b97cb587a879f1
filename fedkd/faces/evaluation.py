"""Evaluate a face embedder with the protocols: verification, identification, cross-resolution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fedkd.config.fields import NOT_EMPTY, above, at_least, below, each, setting
from fedkd.faces.protocols.identification import gallery_probe_split, rank_k_accuracy
from fedkd.faces.protocols.verification import verify


@dataclass
class FaceEvaluationSettings:
    """The protocols on identities held out of all training."""

    eval_identities: int = setting(50, at_least(2), help="identities held out of all training (verification and "
                                   "identification)")
    split_seed: int = setting(0, at_least(0))
    num_pairs: int = setting(3000, at_least(20), help="balanced pairs for the 10-fold accuracy")
    folds: int = setting(10, at_least(2))
    fars: list[float] = setting([0.001, 0.01], NOT_EMPTY, each(above(0)), each(below(1)),
                                allowed="a non-empty list of false-accept rates in (0, 1), e.g. [0.001, 0.01]",
                                help="TAR@FAR from the ROC over all pairs of the held-out faces")
    flip: bool = setting(False, help="average each embedding with its mirror image's")
    gallery_per_identity: int = setting(2, at_least(1), help="closed-set identification: gallery images per "
                                        "identity, the rest probe")


@torch.inference_mode()
def embed(model: nn.Module, x: torch.Tensor, flip: bool = False, batch_size: int = 512) -> np.ndarray:
    """Unit-normalised embeddings; with `flip`, the sum of the image's and its mirror's embeddings."""
    model.eval()
    chunks = []
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        e = model.embedding(batch)
        if flip:
            e = F.normalize(e, dim=1) + F.normalize(model.embedding(batch.flip(-1)), dim=1)
        chunks.append(F.normalize(e, dim=1))
    return torch.cat(chunks).numpy()


def protocol_metrics(embeddings: np.ndarray, labels: np.ndarray, settings: FaceEvaluationSettings, seed: int,
                     gallery_embeddings: np.ndarray | None = None) -> dict[str, float]:
    """Verification and rank-1/5 on unseen identities; with `gallery_embeddings` (HR gallery from the
    teacher), also the cross-resolution rank-1/5 of these (LR) probes against it."""
    result = verify(embeddings, labels, settings.num_pairs, seed, tuple(settings.fars), settings.folds).as_dict()
    gallery, probe = gallery_probe_split(labels, settings.gallery_per_identity, seed)
    ranks = rank_k_accuracy(embeddings[probe], labels[probe], embeddings[gallery], labels[gallery])
    result |= {f"rank{k}": v for k, v in ranks.items()}
    if gallery_embeddings is not None:
        cross = rank_k_accuracy(embeddings[probe], labels[probe], gallery_embeddings[gallery], labels[gallery])
        result |= {f"cross_resolution_rank{k}": v for k, v in cross.items()}
    return result
