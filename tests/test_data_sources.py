import numpy as np
import pytest
import torch
from PIL import Image

from fedkd.data.embedded import load_digits, load_mnist_subset
from fedkd.data.federated import load_client_data
from fedkd.data.user_data import load_image_folder, load_torchvision
from fedkd.errors import UserError


def test_digits_and_mnist_subset_ship_offline():
    digits = load_digits()
    assert digits.images.shape == (1797, 8, 8, 1) and digits.num_classes == 10
    assert digits.images.max() == 255
    mnist = load_mnist_subset()
    assert mnist.images.shape == (5000, 28, 28, 1)
    assert np.array_equal(np.bincount(mnist.labels), np.full(10, 500))


def test_image_folder_jpg_png_pgm(tmp_path):
    rng = np.random.default_rng(0)
    for ident, ext in (("alice", "png"), ("bob", "jpg"), ("carol", "pgm")):
        (tmp_path / "faces" / ident).mkdir(parents=True)
        for k in range(3):
            mode = "L" if ext == "pgm" else "RGB"
            shape = (40, 30) if mode == "L" else (40, 30, 3)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(
                tmp_path / "faces" / ident / f"{k}.{ext}")
    data = load_image_folder(tmp_path / "faces", resolution=24, grayscale=False, cache_dir=tmp_path / "cache")
    assert data.images.shape == (9, 24, 24, 3)
    assert np.array_equal(np.bincount(data.labels), [3, 3, 3])


@pytest.mark.parametrize("content", [b"not an image at all", b"\xff\xd8\xff\xe0 truncated jpeg"],
                         ids=["text", "truncated"])
def test_a_non_image_named_like_an_image_is_one_line_and_caches_nothing(tmp_path, content):
    (tmp_path / "faces" / "alice").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "faces" / "alice" / "0.png")
    (tmp_path / "faces" / "alice" / "1.jpg").write_bytes(content)
    with pytest.raises(UserError, match=r"alice/1\.jpg is not a readable image .*; delete or replace it"):
        load_image_folder(tmp_path / "faces", 8, False, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_image_folder_missing_is_user_error(tmp_path):
    with pytest.raises(UserError, match="is not a folder"):
        load_image_folder(tmp_path / "missing", 32, False, tmp_path)


def test_torchvision_without_files_asks_for_download(tmp_path):
    with pytest.raises(UserError, match=r"dataset\.download=true"):
        load_torchvision("mnist", tmp_path, download=False)


def test_client_data_has_paired_hr_and_lr_views():
    from fedkd.app.experiment_config import load_federated
    from fedkd.data.lowres import LowResolution

    config = load_federated(["dataset.num_identities=20", "dataset.images_per_identity=6", "dataset.num_families=5",
                             "simulation.num_clients=3", "partition=iid", "lowres.size=16"])
    data = load_client_data(config.federation(), 1)
    assert data.train_x.shape[-1] == 16 and data.train_hr.shape[-1] == 64
    assert len(data.train_x) == len(data.train_hr) == len(data.train_y)
    torch.testing.assert_close(data.train_x, LowResolution(size=16)(data.train_hr))  # the LR view of the same faces
    # a third of 120 faces: 8 (20%) test, then 3 (10% of the other 32) validation
    assert len(data.train_y) == 29 and len(data.test_y) == 8
