"""A site's own images as its partition file, for deployments whose data never leaves the sites.

Each site holds `root/<identity>/<image>` files of its own. A label list shared by the federation (one
identity name per line, the same file at every site) fixes the class index of every identity, so that
all sites train one classifier over the same classes; the site's images are resized, split into
train/test and degraded by the configured LR transform exactly as a simulated client's are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedkd.data.federated import FederationSpec, split_client
from fedkd.data.image_data import DataShape, ImageData
from fedkd.data.node_data import save_partition
from fedkd.data.user_data import ImageFolderSettings, load_image_folder
from fedkd.errors import UserError


def read_label_list(path: Path) -> list[str]:
    """The federation's identities in class-index order: one name per line, no repeats."""
    if not path.is_file():
        raise UserError(f"--labels {path} does not exist; give the federation's label list, one identity per line")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated or not names:
        raise UserError(f"--labels {path} " + (f"repeats {', '.join(repeated)}" if repeated else "is empty")
                        + "; list each identity once")
    return names


def write_site_partition(spec: FederationSpec, images: Path, labels: list[str], partition_id: int,
                         path: Path) -> DataShape:
    """Write the site's images to `path` as partition `partition_id`; returns the data shape.

    `spec.dataset` is the `imagefolder` settings (resolution, grayscale) the federation uses."""
    from torchvision.datasets.folder import find_classes

    folder = spec.dataset
    if not isinstance(folder, ImageFolderSettings):
        raise UserError(f"dataset={folder.name} is not a folder of images; use dataset=imagefolder")
    data = load_image_folder(images, folder.resolution, folder.grayscale, spec.cache_dir)
    site_classes, _ = find_classes(str(images))
    index = {name: i for i, name in enumerate(labels)}
    unknown = [name for name in site_classes if name not in index]
    if unknown:
        raise UserError(f"identity folders {', '.join(unknown[:5])} of {images} are not in the label list; "
                        "add them to the --labels file (the same file at every site)")
    global_labels = np.asarray([index[name] for name in site_classes])[data.labels]
    if len(global_labels) < 2:
        raise UserError(f"{images} holds {len(global_labels)} image; a site needs a train and a test image")
    site = ImageData(data.name, data.images, global_labels)
    shape = (site.channels, spec.lowres.model_side(site.resolution), len(labels))
    save_partition(split_client(spec, site, np.arange(len(global_labels)), partition_id), shape, path)
    return shape
