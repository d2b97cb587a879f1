"""Evaluate a face embedder with the protocols: verification, identification, cross-resolution."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fedkd.faces.protocols.identification import gallery_probe_split, rank_k_accuracy
from fedkd.faces.protocols.verification import verify


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


def protocol_metrics(embeddings: np.ndarray, labels: np.ndarray, eval_cfg: dict[str, Any], seed: int,
                     gallery_embeddings: np.ndarray | None = None) -> dict[str, float]:
    """Verification and rank-1/5 on unseen identities; with `gallery_embeddings` (HR gallery from the
    teacher), also the cross-resolution rank-1/5 of these (LR) probes against it."""
    result = verify(embeddings, labels, eval_cfg["num_pairs"], seed, tuple(eval_cfg["fars"]),
                    eval_cfg["folds"]).as_dict()
    gallery, probe = gallery_probe_split(labels, eval_cfg["gallery_per_identity"], seed)
    ranks = rank_k_accuracy(embeddings[probe], labels[probe], embeddings[gallery], labels[gallery])
    result |= {f"rank{k}": v for k, v in ranks.items()}
    if gallery_embeddings is not None:
        cross = rank_k_accuracy(embeddings[probe], labels[probe], gallery_embeddings[gallery], labels[gallery])
        result |= {f"cross_resolution_rank{k}": v for k, v in cross.items()}
    return result
