"""Identity-disjoint split of a face set: training identities, and unseen identities for evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fedkd.data.holdout import held_out_labels
from fedkd.data.image_data import ImageData


@dataclass(frozen=True)
class FaceSplit:
    """HR images in [0,1] (N,C,H,W); training labels are 0..num_train_identities-1."""

    train_hr: torch.Tensor
    train_y: torch.Tensor
    eval_hr: torch.Tensor
    eval_y: np.ndarray

    @property
    def num_train_identities(self) -> int:
        return int(self.train_y.max()) + 1


def split_identities(data: ImageData, eval_identities: int, seed: int) -> FaceSplit:
    """Hold out `eval_identities` identities (chosen by `seed`) for verification and identification."""
    held_out = held_out_labels(data.labels, eval_identities, seed)
    is_eval = np.isin(data.labels, held_out)
    train_rows, eval_rows = np.flatnonzero(~is_eval), np.flatnonzero(is_eval)
    train_hr, _ = data.tensors(train_rows)
    eval_hr, _ = data.tensors(eval_rows)
    kept = np.unique(data.labels[train_rows])
    train_y = torch.from_numpy(np.searchsorted(kept, data.labels[train_rows]).astype(np.int64))
    return FaceSplit(train_hr, train_y, eval_hr, data.labels[eval_rows].astype(np.int64))
