"""The data sets `dataset=<name>` selects: their settings, how each loads, and its shape when fixed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fedkd.config.registry import Registry
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.embedded import DigitsSettings, MnistSubsetSettings, load_digits, load_faces, load_mnist_subset
from fedkd.data.image_data import ImageData
from fedkd.data.synthetic_faces import FaceSpec
from fedkd.data.user_data import ImageFolderSettings, TorchvisionSettings, load_image_folder, load_torchvision
from fedkd.paths import expand


@dataclass(frozen=True)
class DataSource:
    settings: DatasetSettings
    load: Callable[[DatasetSettings, Path], ImageData]   # (settings, cache dir) -> images and labels
    known_shape: Callable[[DatasetSettings], tuple[int, int | None]]  # (native side, samples if known) unloaded
    is_face_set: bool = False                            # identities as labels (face workloads)


DATASETS: Registry[DataSource] = Registry("dataset", lambda source: source.settings)
DATASETS.add("faces", DataSource(FaceSpec(), lambda s, cache: load_faces(s, cache),
                                 lambda s: (s.resolution, s.size), is_face_set=True))
DATASETS.add("digits", DataSource(DigitsSettings(), lambda s, cache: load_digits(), lambda s: (8, 1797)))
DATASETS.add("mnist_subset", DataSource(MnistSubsetSettings(), lambda s, cache: load_mnist_subset(),
                                        lambda s: (28, 5000)))
DATASETS.add("imagefolder", DataSource(
    ImageFolderSettings(), lambda s, cache: load_image_folder(expand(s.root), s.resolution, s.grayscale, cache),
    lambda s: (s.resolution, None), is_face_set=True))
for _name, _side, _size in (("mnist", 28, 60000), ("fashion_mnist", 28, 60000), ("cifar10", 32, 50000)):
    DATASETS.add(_name, DataSource(TorchvisionSettings(name=_name),
                                   lambda s, cache: load_torchvision(s.name, expand(s.root), s.download),
                                   lambda s, side=_side, size=_size: (side, size)))


def load_image_data(settings: DatasetSettings, cache_dir: Path) -> ImageData:
    """The images and labels of the configured data set (generated or resized ones cached in `cache_dir`)."""
    return DATASETS[settings.name].load(settings, cache_dir)
