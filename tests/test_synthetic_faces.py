import numpy as np
import torch
import torch.nn.functional as F

from fedkd.data.embedded import load_faces
from fedkd.data.synthetic_faces import FaceNuisance, FaceSpec, generate_faces

SMALL = FaceSpec(num_identities=12, images_per_identity=5, resolution=32, num_families=4, seed=3)


def test_shapes_and_identity_counts():
    images, labels = generate_faces(SMALL)
    assert images.shape == (60, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels), np.full(12, 5))


def test_same_seed_same_bytes_other_seed_differs():
    a, _ = generate_faces(SMALL)
    b, _ = generate_faces(SMALL)
    c, _ = generate_faces(FaceSpec(**{**SMALL.__dict__, "seed": 4}))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


STILL = FaceNuisance(shift=0, rotation_deg=0, scale=0, yaw=0, expression=0, illumination=0, noise_std=0)
FACE = (slice(None), slice(20, 44), slice(20, 44))  # central face area of a 64 px image


def _faces(spec: FaceSpec) -> torch.Tensor:
    return torch.tensor(generate_faces(spec)[0]).permute(0, 3, 1, 2).float() / 255


def test_nuisance_makes_images_of_one_identity_differ():
    spec = FaceSpec(num_identities=2, images_per_identity=4, resolution=64, num_families=1)
    varied = _faces(spec)
    still = _faces(FaceSpec(**{**spec.__dict__, "nuisance": STILL}))
    varied_gap = (varied[0][FACE] - varied[1][FACE]).abs().mean()
    still_gap = (still[0][FACE] - still[1][FACE]).abs().mean()
    assert still_gap < 1e-6 < varied_gap


def test_fine_identity_detail_is_lost_at_low_resolution():
    """Within one family, most of what tells two faces apart is detail finer than 16 px."""
    x = _faces(FaceSpec(num_identities=8, images_per_identity=1, resolution=64, num_families=1, nuisance=STILL))
    x_lr = F.interpolate(F.interpolate(x, size=16, mode="area"), size=64, mode="nearest")
    for other in range(1, 8):
        diff = (x[0] - x[other])[FACE]
        diff_lr = (x_lr[0] - x_lr[other])[FACE]
        lost = ((diff - diff_lr) ** 2).sum() / (diff**2).sum()
        assert lost > 0.6


def test_cache_round_trip(tmp_path):
    first = load_faces(SMALL, tmp_path)
    files = list(tmp_path.glob("faces-*.npz"))
    assert len(files) == 1
    second = load_faces(SMALL, tmp_path)
    assert np.array_equal(first.images, second.images) and first.num_classes == 12
