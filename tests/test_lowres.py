import pytest
import torch

from fedkd.config.check import check_rules
from fedkd.data.lowres import LowResolution
from fedkd.errors import UserError


@pytest.mark.parametrize("size", [8, 12, 16, 24, 32])
@pytest.mark.parametrize("kernel", ["area", "bilinear", "bicubic", "nearest"])
def test_output_side(size, kernel):
    out = LowResolution(size=size, kernel=kernel)(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 3, size, size)
    assert out.min() >= 0 and out.max() <= 1


def test_area_kernel_is_block_mean():
    x = torch.rand(1, 1, 8, 8)
    out = LowResolution(size=2, kernel="area")(x)
    assert torch.allclose(out[0, 0, 0, 0], x[0, 0, :4, :4].mean())


def test_upsample_restores_side_and_loses_detail():
    checker = torch.zeros(1, 1, 64, 64)
    checker[..., ::2, ::2] = 1
    out = LowResolution(size=16, upsample=True)(checker)
    assert out.shape == checker.shape
    assert out.std() < 0.2 * checker.std()  # a 1-px checkerboard averages out at 16 px


def test_blur_and_noise():
    x = torch.full((4, 3, 32, 32), 0.5)
    blurred = LowResolution(size=32, blur_sigma=1.5)(x)
    assert torch.allclose(blurred, x, atol=1e-5)  # blur keeps a constant image
    noisy = LowResolution(size=32, noise_std=0.1)(x, torch.Generator().manual_seed(0))
    assert 0.08 < (noisy - x).std() < 0.12


def test_unknown_kernel_rejected_by_the_settings_rules():
    with pytest.raises(UserError, match=r"lowres\.kernel='lanczos' is invalid; allowed: one of: area, bilinear"):
        check_rules(LowResolution(kernel="lanczos"), "lowres.")
