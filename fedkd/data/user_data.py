"""Users' own data: one-folder-per-identity face sets and torchvision sets from a local root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import MISSING
from PIL import Image

from fedkd.config.fields import NOT_EMPTY, at_least, at_most, setting
from fedkd.data.cache import cache_key, load_or_build
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.image_data import ImageData
from fedkd.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".pgm", ".bmp")
TORCHVISION_SETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}


@dataclass
class ImageFolderSettings(DatasetSettings):
    """`dataset=imagefolder`: a face set on disk laid out as root/<identity>/<image>.{jpg,png,pgm,bmp}."""

    name: str = "imagefolder"
    root: str = setting(MISSING, NOT_EMPTY, help="the folder of identity folders: dataset.root=/path/to/faces")
    resolution: int = setting(64, at_least(4), at_most(512), help="images are resized to this side")
    grayscale: bool = setting(False)


@dataclass
class TorchvisionSettings(DatasetSettings):
    """`dataset=mnist|fashion_mnist|cifar10`: torchvision's training split from a local root; downloads
    only with download=true."""

    root: str = setting("~/data/torchvision", NOT_EMPTY)
    download: bool = setting(False, help="true: fetch the files (needs network)")


def eight_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey images scaled to 8 bits (PIL's convert would clip them to white)."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L"):
        return image
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
    return Image.fromarray(np.clip(np.round(values * 255.0 / top), 0, 255).astype(np.uint8), "L")


def open_image(path: str) -> Image.Image:
    """An image file in full depth (torchvision's default loader converts to RGB first, clipping 16 bits)."""
    with open(path, "rb") as fh:
        image = Image.open(fh)
        image.load()
    return eight_bit(image)


def load_image_folder(root: Path, resolution: int, grayscale: bool, cache_dir: Path) -> ImageData:
    """Any `root/<identity>/<image>` tree (jpg/png/pgm/bmp), resized to `resolution` and cached."""
    from torchvision.datasets import ImageFolder

    if not root.is_dir():
        raise UserError(f"dataset.root={str(root)!r} is not a folder; point it to root/<identity>/<image> files")
    empty = sorted(d.name for d in root.iterdir() if d.is_dir() and not any(
        f.name.lower().endswith(IMAGE_EXTENSIONS) for f in d.iterdir()))
    if empty:
        raise UserError(f"identity folder {root / empty[0]} holds no images"
                        + (f" (nor do {len(empty) - 1} more)" if len(empty) > 1 else "")
                        + f"; remove it or add {'/'.join(IMAGE_EXTENSIONS)} files")
    try:
        folder = ImageFolder(str(root), loader=open_image, is_valid_file=lambda p: p.lower().endswith(IMAGE_EXTENSIONS))
    except (FileNotFoundError, RuntimeError) as err:
        raise UserError(f"dataset.root={str(root)!r} holds no images in identity folders ({err})") from None
    params = {"root": str(root), "resolution": resolution, "grayscale": grayscale,
              "files": [(p, Path(p).stat().st_mtime_ns) for p, _ in folder.samples]}

    def read(path: str, mode: str) -> np.ndarray:
        try:
            return np.asarray(folder.loader(path).convert(mode).resize((resolution, resolution)))
        except OSError as err:  # PIL's UnidentifiedImageError is an OSError; so are truncated files
            raise UserError(f"{path} is not a readable image ({type(err).__name__}: {err}); delete or replace it, "
                            f"then run again") from None

    def build() -> dict[str, np.ndarray]:
        mode = "L" if grayscale else "RGB"
        images = np.stack([read(path, mode) for path, _ in folder.samples])
        images = images[..., None] if grayscale else images
        return {"images": images.astype(np.uint8), "labels": np.asarray(folder.targets, dtype=np.int64)}

    arrays = load_or_build(cache_dir / cache_key("imagefolder", params), build)
    return ImageData(f"imagefolder:{root.name}", arrays["images"], arrays["labels"])


def load_torchvision(name: str, root: Path, download: bool) -> ImageData:
    """torchvision MNIST / Fashion-MNIST / CIFAR-10 (training split) from a local root."""
    import torchvision.datasets as tvd

    if name not in TORCHVISION_SETS:
        raise UserError(f"dataset.name={name!r} is unknown; allowed: {', '.join(TORCHVISION_SETS)}")
    cls = getattr(tvd, TORCHVISION_SETS[name])
    try:
        data = cls(str(root), train=True, download=download)
    except RuntimeError:
        raise UserError(
            f"dataset.root={str(root)!r} has no {TORCHVISION_SETS[name]} files; "
            "copy them there or set dataset.download=true (needs network)"
        ) from None
    images = np.asarray(data.data)
    images = images[..., None] if images.ndim == 3 else images
    return ImageData(name, images.astype(np.uint8), np.asarray(data.targets, dtype=np.int64))
