"""Sample grids: small images are enlarged by pixel repetition only, and the privacy line above the grid never
overlaps the images however long it wraps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from private_gen.metrics.grid import MIN_CELL, grid_figure, upscale


def test_upscale_repeats_each_pixel_into_a_block_and_reaches_the_minimum_side():
    images = torch.rand(3, 1, 8, 8)
    big = upscale(images)
    k = big.shape[-1] // 8
    assert big.shape[-1] >= MIN_CELL and (k - 1) * 8 < MIN_CELL
    assert torch.equal(big[..., ::k, ::k], images)
    assert torch.equal(big, images.repeat_interleave(k, -2).repeat_interleave(k, -1))
    assert upscale(torch.rand(1, 1, 64, 64)).shape[-1] == 64  # already large enough: unchanged


@pytest.mark.parametrize("words", [3, 80])
def test_the_title_band_holds_every_wrapped_line_above_the_images(words):
    labels = torch.arange(20) % 10
    title = " ".join(["privacy: ε=9.995 at δ=1e-05"] * words)
    fig = grid_figure(torch.rand(20, 1, 8, 8), labels, 2, title)
    renderer = fig.canvas.get_renderer()
    text = fig._suptitle.get_window_extent(renderer)
    images = fig.axes[0].get_window_extent(renderer)
    assert text.y0 >= images.y1 and text.y1 <= fig.bbox.y1 + 1
    assert text.x0 >= -1 and text.x1 <= fig.bbox.x1 + 1
    assert (fig._suptitle.get_text().count("\n") > 3) == (words == 80)
    plt.close(fig)
