"""The evaluator network: a SmallCNN trained on the real training split, cached per data set and seed.

It supplies the feature space of the Fréchet distance. It is an evaluation tool only: no generator sees
it, and it is trained once with a fixed budget (nothing tuned on the test split).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from private_gen.metrics.classifiers import SmallCNN, cnn_accuracy, train_cnn
from private_gen.metrics.frechet import frechet_distance, gaussian_stats


def _data_hash(x: torch.Tensor, y: torch.Tensor) -> str:
    h = hashlib.sha256(x.numpy().tobytes())
    h.update(y.numpy().tobytes())
    return h.hexdigest()[:16]


def load_or_train_evaluator(x: torch.Tensor, y: torch.Tensor, num_classes: int, epochs: int, seed: int,
                            cache_dir: Path, device: torch.device | str = "cpu") -> SmallCNN:
    path = cache_dir / "private_gen" / f"evaluator-{_data_hash(x, y)}-e{epochs}-s{seed}.pt"
    model = SmallCNN(x.shape[1], num_classes)
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    model = train_cnn(x, y, num_classes, epochs, seed, device=device)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.rename(path)
    return model


@torch.no_grad()
def features(model: SmallCNN, x: torch.Tensor) -> np.ndarray:
    return torch.cat([model.features(xb) for xb in x.split(1024)]).double().numpy()


def evaluator_frechet(model: SmallCNN, x_syn: torch.Tensor, x_real: torch.Tensor) -> float:
    return frechet_distance(*gaussian_stats(features(model, x_syn)), *gaussian_stats(features(model, x_real)))


def evaluator_accuracy(model: SmallCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    return cnn_accuracy(model, x, y)
