"""The noise-level rules of Song & Ermon (NeurIPS 2020): σ_max from the image size, and the number of levels
from the overlap condition, checked against scipy's normal CDF."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from fedkd.errors import UserError
from private_gen.config import load_generation
from private_gen.noise_levels import NoiseSettings, overlap_levels, overlap_ratio


@pytest.mark.parametrize("dim", [64, 784, 3 * 16 * 16])
def test_the_level_ratio_makes_consecutive_levels_overlap_by_one_half(dim):
    gamma = overlap_ratio(dim)
    a = math.sqrt(2 * dim) * (gamma - 1)
    assert norm.cdf(a + 3 * gamma) - norm.cdf(a - 3 * gamma) == pytest.approx(0.5, abs=1e-6)


def test_automatic_levels_span_the_image_size_rule():
    sigmas = NoiseSettings(sigma_max=None, sigma_min=0.01, num_levels=None).sigmas(64)
    assert sigmas[0].item() == pytest.approx(0.6 * 8) and sigmas[-1].item() == pytest.approx(0.01)
    assert len(sigmas) == overlap_levels(4.8, 0.01, 64) == 22  # γ ≈ 1.361 for 8×8 images
    ratios = sigmas[:-1] / sigmas[1:]
    assert ratios.max().item() <= overlap_ratio(64) + 1e-6  # at least as dense as the rule asks
    assert len(NoiseSettings(sigma_max=2.0, num_levels=None).sigmas(784)) > len(sigmas)  # larger images, more


def test_a_given_sigma_max_below_sigma_min_is_refused():
    with pytest.raises(UserError, match=r"generator\.noise\.sigma_min=0\.5 is invalid"):
        load_generation(["dataset=digits", "generator.noise.sigma_max=0.1", "generator.noise.sigma_min=0.5"])
    assert load_generation(["dataset=digits", "generator.noise.sigma_max=null"]).generator.noise.sigma_max is None
