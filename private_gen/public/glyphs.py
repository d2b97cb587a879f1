"""Digit glyphs rendered from the fonts matplotlib ships, randomly deformed: public pretraining data for the
digit sets (no private record is read to make them).

Each (font, digit) is rendered once with Agg, cropped to its ink, scaled so its longer side is
`fill` of the frame and centred on its centre of mass (MNIST's own normalisation). Every image then
gets, independently: a stroke width change (grey-level erosion or dilation at the render resolution), a
random affine map (rotation, anisotropic scale, shear, translation), optionally an elastic distortion (a smooth
random displacement field, Simard, Steinkraus & Platt, "Best Practices for Convolutional Neural Networks Applied
to Visual Document Analysis", ICDAR 2003: it bends the straight strokes of printed glyphs towards handwriting),
a Gaussian blur, downsampling to the target side by area averaging, and additive Gaussian noise. Ink is 1 on a
0 background, like the digit sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from torch.nn import functional as F

from fedkd.config.fields import NOT_EMPTY, Invalid, above, at_least, at_most, below, each, setting

FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
              "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
              "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
              "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
              "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmti10.ttf", "cmtt10.ttf")
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
RENDER_SIDE = 64


@dataclass
class GlyphSettings:
    """How the public digit glyphs are deformed (`pretrain=glyphs`, key `pretrain.glyphs`)."""

    count: int = setting(20000, at_least(10), help="glyph images (balanced over the ten digits)")
    fonts: list[str] = setting(list(FONT_FILES), NOT_EMPTY, each(NOT_EMPTY), help="font files of "
                               "matplotlib's mpl-data/fonts/ttf")
    rotation_degrees: float = setting(12.0, at_least(0), at_most(45))
    scale_range: float = setting(0.15, at_least(0), below(1), help="x and y scales drawn from 1 ± this")
    shear: float = setting(0.3, at_least(0), at_most(1), help="shear drawn from ± this")
    translate: float = setting(0.06, at_least(0), at_most(0.3), help="shift drawn from ± this fraction of the side")
    stroke_steps: int = setting(3, at_least(0), at_most(6), help="dilation steps drawn from -1..this (one step is "
                                "one pixel at the 64 px render; -1 erodes once where that keeps half the ink)")
    blur_sigma: float = setting(0.6, at_least(0), help="blur σ (output pixels) drawn from [0, this]")
    noise_std: float = setting(0.03, at_least(0), help="additive Gaussian pixel noise")
    elastic_shift: float = setting(0.0, at_least(0), at_most(0.2), help="elastic distortion: RMS displacement "
                                   "drawn from [0, this] share of the side (0: off; Simard et al.'s α 34, σ 4 on "
                                   "MNIST is about 0.05)")
    elastic_smooth: float = setting(0.14, above(0), at_most(1), help="elastic distortion: σ of the Gaussian that "
                                    "smooths the displacement field, as a share of the side (Simard et al.: 4/28)")
    fill: float = setting(0.72, above(0), at_most(1), help="the glyph's longer side as a share of the frame "
                          "(MNIST: 20 of 28 px; sklearn's 8×8 digits fill about 0.95)")

    def check(self) -> None:
        for name in self.fonts:
            if not (FONT_DIR / name).is_file():
                raise Invalid("fonts", name, f"a font file in {FONT_DIR}")


def _render(font: str, digit: int, fill: float) -> np.ndarray:
    """One glyph's ink in [0, 1] on a RENDER_SIDE frame, cropped, scaled and centred on its centre of mass."""
    fig = Figure(figsize=(2, 2), dpi=RENDER_SIDE)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, str(digit), fontproperties=FontProperties(fname=FONT_DIR / font, size=80), ha="center",
             va="center", color="black")
    canvas.draw()
    ink = 1.0 - np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float32) / 255.0
    rows, cols = np.nonzero(ink > 0.05)
    crop = torch.from_numpy(ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].copy())
    scale = fill * RENDER_SIDE / max(crop.shape)
    size = (max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale)))
    glyph = F.interpolate(crop[None, None], size=size, mode="area")[0, 0]
    ys, xs = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
    mass = glyph.sum()
    top = round(RENDER_SIDE / 2 - float((ys * glyph).sum() / mass))
    left = round(RENDER_SIDE / 2 - float((xs * glyph).sum() / mass))
    top, left = min(max(top, 0), RENDER_SIDE - size[0]), min(max(left, 0), RENDER_SIDE - size[1])
    frame = torch.zeros(RENDER_SIDE, RENDER_SIDE)
    frame[top:top + size[0], left:left + size[1]] = glyph
    return frame.numpy()


@lru_cache(maxsize=4)
def master_glyphs(fonts: tuple[str, ...], fill: float) -> torch.Tensor:
    """(len(fonts), 10, RENDER_SIDE, RENDER_SIDE): every digit of every font, undeformed."""
    return torch.from_numpy(np.stack([np.stack([_render(f, d, fill) for d in range(10)]) for f in fonts]))


def _stroke(images: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Grey-level dilation by a 3×3 square `steps` times per image; steps = -1 erodes once, unless that would
    leave less than half the ink (thin fonts would vanish)."""
    shrunk = -F.max_pool2d(-images, 3, stride=1, padding=1)
    keeps_ink = shrunk.sum((1, 2, 3)) >= 0.5 * images.sum((1, 2, 3))
    out = torch.where(((steps < 0) & keeps_ink).view(-1, 1, 1, 1), shrunk, images)
    for k in range(1, int(steps.max().item()) + 1):
        out = torch.where((steps >= k).view(-1, 1, 1, 1), F.max_pool2d(out, 3, stride=1, padding=1), out)
    return out


def _affine(images: torch.Tensor, s: GlyphSettings, gen: torch.Generator) -> torch.Tensor:
    n = len(images)

    def sym(bound: float) -> torch.Tensor:
        return (2 * torch.rand(n, generator=gen) - 1) * bound

    angle = sym(math.radians(s.rotation_degrees))
    sx, sy, shear = 1 + sym(s.scale_range), 1 + sym(s.scale_range), sym(s.shear)
    cos, sin = angle.cos(), angle.sin()
    # output → input coordinates: the inverse of scale·shear·rotation, applied by grid_sample
    forward = torch.stack([torch.stack([sx * cos, sx * (shear * cos - sin)], 1),
                           torch.stack([sy * sin, sy * (shear * sin + cos)], 1)], 1)
    inverse = torch.linalg.inv(forward)
    shift = torch.stack([sym(2 * s.translate), sym(2 * s.translate)], 1)
    theta = torch.cat([inverse, -(inverse @ shift[:, :, None])], 2)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _elastic(images: torch.Tensor, s: GlyphSettings, gen: torch.Generator) -> torch.Tensor:
    """Warp each image by a random displacement field: white noise smoothed by a Gaussian of σ = `elastic_smooth`
    of the side, scaled to an RMS displacement drawn from [0, `elastic_shift`] of the side."""
    n, _, h, w = images.shape
    sigma = s.elastic_smooth * h
    margin = math.ceil(3 * sigma)  # noise beyond the frame, so the blur's edge padding does not inflate the edges
    field = torch.randn((n, 2, h + 2 * margin, w + 2 * margin), generator=gen, dtype=images.dtype)
    field = _blur(field, torch.full((n,), sigma))[:, :, margin:margin + h, margin:margin + w]
    field = field / field.square().mean((1, 2, 3), keepdim=True).sqrt().clamp(min=1e-12)
    magnitude = 2 * s.elastic_shift * torch.rand(n, generator=gen)    # grid coordinates span 2 per side
    identity = F.affine_grid(torch.eye(2, 3).expand(n, 2, 3), [n, 1, h, w], align_corners=False)
    grid = identity + magnitude.view(n, 1, 1, 1) * field.permute(0, 2, 3, 1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with a per-image σ (pixels); σ = 0 leaves the image unchanged."""
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma.clamp(min=1e-3)[:, None]) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)                  # (N, k)
    n, c, h, w = images.shape
    x = images.reshape(1, n * c, h, w)
    k = kernel.repeat_interleave(c, 0)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k[:, None, None, :], groups=n * c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k[:, None, :, None], groups=n * c)
    return x.reshape(n, c, h, w)


def render_glyphs(settings: GlyphSettings, side: int, seed: int, chunk: int = 2048
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (count, 1, side, side) in [0, 1], digit labels (count,)), deterministic from `seed`."""
    masters = master_glyphs(tuple(settings.fonts), settings.fill)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(settings.count) % 10
    labels = labels[torch.randperm(settings.count, generator=gen)]
    fonts = torch.randint(len(settings.fonts), (settings.count,), generator=gen)
    images = []
    for rows in torch.arange(settings.count).split(chunk):
        x = masters[fonts[rows], labels[rows]][:, None]
        steps = torch.randint(-1, settings.stroke_steps + 1, (len(rows),), generator=gen)
        x = _affine(_stroke(x, steps), settings, gen)
        if settings.elastic_shift > 0:
            x = _elastic(x, settings, gen)
        x = F.interpolate(x, size=(side, side), mode="area")
        x = _blur(x, torch.rand(len(rows), generator=gen) * settings.blur_sigma)
        x = x + settings.noise_std * torch.randn(x.shape, generator=gen)
        images.append(x.clamp(0, 1))
    return torch.cat(images), labels
