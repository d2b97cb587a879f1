"""The score network's resolutions: the rule behind `generator.network.scales=null` and what it builds."""

import pytest
import torch

from private_gen.noise_levels import geometric_sigmas
from private_gen.score_model import ScoreModelSettings
from private_gen.score_net import ScoreNetSettings, scales_for


@pytest.mark.parametrize(("side", "scales"), [(4, 2), (8, 2), (9, 3), (16, 3), (28, 4), (32, 4), (33, 5), (64, 5)])
def test_the_scale_rule_halves_until_the_coarsest_side_is_at_most_four(side, scales):
    assert scales_for(side) == scales


def test_a_null_scale_count_builds_four_resolutions_for_mnist_and_an_explicit_one_is_kept():
    sigmas = geometric_sigmas(1.0, 0.1, 3)
    assert len(ScoreNetSettings(width=8).build(1, 28, sigmas, 10).encoder) == 4
    assert len(ScoreNetSettings(width=8, scales=2).build(1, 28, sigmas, 10).encoder) == 2
    model = ScoreModelSettings().build((1, 8, 8), 10)
    assert len(model.encoder) == 2


def test_a_three_scale_network_keeps_the_shape_of_an_odd_sized_image():
    net = ScoreNetSettings(width=8, scales=3).build(1, 7, geometric_sigmas(1.0, 0.1, 3), 0)
    x = torch.rand(2, 1, 7, 7)
    assert net(x, torch.tensor([0, 2])).shape == x.shape
