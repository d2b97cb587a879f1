"""Procedural face data set: many identities, nuisance variation, deterministic from a seed.

Each identity is a set of geometric and photometric face attributes. Coarse attributes (head
shape, skin and hair colour, feature layout) come from a small number of *families*, so that many
identities look alike at low resolution; fine attributes (moles, skin texture, iris colour, brow
shape) are unique per identity and mostly vanish below ~24 px. Every image adds nuisance:
translation, in-plane rotation, scale, yaw-like feature shift, expression (mouth curvature and
opening, eye opening, brow raise), directional illumination, contrast, and pixel noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from fedkd.config.fields import at_least, at_most, setting
from fedkd.data.dataset_settings import DatasetSettings


@dataclass
class FaceNuisance:
    """Per-image nuisance strengths (all relative to a face spanning the image)."""

    shift: float = setting(0.08, at_least(0), help="translation, share of the image side")
    rotation_deg: float = setting(10.0, at_least(0), help="in-plane rotation, degrees")
    scale: float = setting(0.08, at_least(0), help="relative size change")
    yaw: float = setting(0.3, at_least(0), help="yaw-like shift of the inner features")
    expression: float = setting(1.0, at_least(0), help="smile, mouth and eye opening, brow raise")
    illumination: float = setting(0.35, at_least(0), help="directional light")
    noise_std: float = setting(0.03, at_least(0), help="pixel noise on the [0, 1] scale")


@dataclass
class FaceSpec(DatasetSettings):
    """`dataset=faces`: the project's procedural face set, deterministic from `seed`."""

    name: str = "faces"
    resolution: int = setting(64, at_least(8), at_most(256), help="high-resolution side in pixels")
    num_identities: int = setting(200, at_least(2))
    images_per_identity: int = setting(20, at_least(2))
    num_families: int = setting(25, at_least(1), help="identities sharing coarse looks; fewer = harder at low "
                                "resolution")
    seed: int = setting(0, at_least(0))
    nuisance: FaceNuisance = field(default_factory=FaceNuisance)

    @property
    def size(self) -> int:
        return self.num_identities * self.images_per_identity


_NUM_MOLES = 4
_NUM_GRATINGS = 3


def _identity_attributes(spec: FaceSpec, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Draw per-identity attributes: family (coarse) values plus small per-identity jitter."""
    n, f = spec.num_identities, spec.num_families

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen)

    family = torch.arange(n) % f
    coarse = {
        "head_rx": 0.55 + 0.15 * rand(f),
        "head_ry": 0.72 + 0.12 * rand(f),
        "skin": (0.35 + 0.6 * rand(f, 1)) * torch.tensor([1.0, 0.78, 0.62]) + 0.05 * rand(f, 3),
        "hair": (0.05 + 0.6 * rand(f, 1)) * torch.tensor([1.0, 0.75, 0.5]) + 0.08 * rand(f, 3),
        "hairline": 0.25 + 0.3 * rand(f),
        "eye_dx": 0.22 + 0.08 * rand(f),
        "eye_y": -0.12 + 0.1 * rand(f),
        "mouth_y": 0.38 + 0.1 * rand(f),
        "mouth_w": 0.18 + 0.12 * rand(f),
        "nose_len": 0.12 + 0.1 * rand(f),
    }
    attrs = {k: v[family] for k, v in coarse.items()}
    jitter = 0.03
    for key in ("head_rx", "head_ry", "hairline", "eye_dx", "eye_y", "mouth_y", "mouth_w"):
        attrs[key] = attrs[key] + jitter * (rand(n) - 0.5)
    attrs["skin"] = (attrs["skin"] + 0.04 * (rand(n, 3) - 0.5)).clamp(0, 1)
    # Fine, identity-unique attributes.
    attrs["eye_rx"] = 0.07 + 0.04 * rand(n)
    attrs["eye_ry"] = 0.035 + 0.02 * rand(n)
    attrs["iris"] = rand(n, 3) * 0.7
    attrs["brow_tilt"] = 0.5 * (rand(n) - 0.5)
    attrs["brow_thick"] = 0.015 + 0.02 * rand(n)
    attrs["mole_u"] = 1.0 * (rand(n, _NUM_MOLES) - 0.5)
    attrs["mole_v"] = -0.35 + 0.95 * rand(n, _NUM_MOLES)
    attrs["mole_r"] = 0.03 + 0.025 * rand(n, _NUM_MOLES)
    attrs["grating_freq"] = 7.0 + 6.0 * rand(n, _NUM_GRATINGS)
    attrs["grating_angle"] = np.pi * rand(n, _NUM_GRATINGS)
    attrs["grating_phase"] = 2 * np.pi * rand(n, _NUM_GRATINGS)
    attrs["chin_w"] = 0.2 + 0.25 * rand(n)
    return attrs


def _image_nuisance(count: int, nz: FaceNuisance, gen: torch.Generator) -> dict[str, torch.Tensor]:
    def sym(*shape: int) -> torch.Tensor:
        return 2 * torch.rand(*shape, generator=gen) - 1

    return {
        "tx": nz.shift * sym(count),
        "ty": nz.shift * sym(count),
        "rot": np.deg2rad(nz.rotation_deg) * sym(count),
        "scale": 1 + nz.scale * sym(count),
        "yaw": nz.yaw * sym(count),
        "smile": nz.expression * 0.25 * sym(count),
        "mouth_open": nz.expression * 0.04 * torch.rand(count, generator=gen),
        "eye_open": 1 - nz.expression * 0.5 * torch.rand(count, generator=gen),
        "brow_raise": nz.expression * 0.05 * sym(count),
        "light_angle": np.pi * sym(count),
        "light_strength": nz.illumination * torch.rand(count, generator=gen),
        "brightness": 1 + nz.illumination * 0.5 * sym(count),
        "background": 0.2 + 0.6 * torch.rand(count, 3, generator=gen),
    }


def _soft(inside: torch.Tensor, sharpness: float) -> torch.Tensor:
    """Anti-aliased mask from a signed 'inside' field (>0 inside)."""
    return torch.sigmoid(inside * sharpness)


def _ellipse(u, v, cx, cy, rx, ry, sharpness: float) -> torch.Tensor:
    d = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2
    return _soft(1 - d, sharpness)


def _paint(img: torch.Tensor, mask: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """Alpha-composite a colour (B,3) or (B,3,H,W) over img (B,3,H,W) with mask (B,H,W)."""
    if color.dim() == 2:
        color = color[:, :, None, None]
    m = mask[:, None]
    return img * (1 - m) + color * m


def render_faces(
    attrs: dict[str, torch.Tensor], nuis: dict[str, torch.Tensor], resolution: int, noise_std: float,
    gen: torch.Generator,
) -> torch.Tensor:
    """Render a batch; attrs and nuis are aligned per image. Returns float (B,3,R,R) in [0,1]."""
    b = nuis["tx"].shape[0]
    lin = torch.linspace(-1, 1, resolution)
    y, x = torch.meshgrid(lin, lin, indexing="ij")
    x, y = x[None], y[None]

    def per_image(t: torch.Tensor) -> torch.Tensor:
        return t.view(b, *([1] * 2)) if t.dim() == 1 else t

    cos, sin = torch.cos(nuis["rot"]), torch.sin(nuis["rot"])
    s = per_image(nuis["scale"])
    xs, ys = x - per_image(nuis["tx"]), y - per_image(nuis["ty"])
    u = (per_image(cos) * xs + per_image(sin) * ys) / s
    v = (-per_image(sin) * xs + per_image(cos) * ys) / s
    yaw = per_image(nuis["yaw"])
    uf = u - 0.18 * yaw  # inner features move with the yaw, the outline less so
    sharp = 0.35 * resolution

    def a(key: str) -> torch.Tensor:
        return per_image(attrs[key])

    img = nuis["background"][:, :, None, None].expand(b, 3, resolution, resolution).clone()
    head_rx = a("head_rx") * (1 - 0.15 * yaw.abs())
    head = _ellipse(u, v, 0, 0.05, head_rx, a("head_ry"), sharp)
    chin = _ellipse(u, v, 0, 0.55, a("chin_w"), 0.35, sharp)
    face = torch.maximum(head, chin)
    hair = face * _soft(a("hairline") - 0.72 + 0.15 * u**2 - v, sharp)

    # Skin with identity texture (gratings) and moles.
    texture = torch.zeros(b, resolution, resolution)
    for g in range(_NUM_GRATINGS):
        ang = attrs["grating_angle"][:, g].view(b, 1, 1)
        freq = attrs["grating_freq"][:, g].view(b, 1, 1)
        phase = attrs["grating_phase"][:, g].view(b, 1, 1)
        texture += torch.sin(freq * np.pi * (uf * torch.cos(ang) + v * torch.sin(ang)) + phase)
    skin = attrs["skin"][:, :, None, None] * (1 + 0.07 * texture[:, None])
    img = _paint(img, face, skin)
    moles = torch.zeros(b, resolution, resolution)
    for k in range(_NUM_MOLES):
        m = _ellipse(uf, v, attrs["mole_u"][:, k].view(b, 1, 1), attrs["mole_v"][:, k].view(b, 1, 1),
                     attrs["mole_r"][:, k].view(b, 1, 1), attrs["mole_r"][:, k].view(b, 1, 1), sharp)
        moles = torch.maximum(moles, m)
    img = _paint(img, moles * face, attrs["skin"] * 0.35)
    img = _paint(img, hair, attrs["hair"])

    # Eyes: white, iris, pupil; openness from expression.
    eye_ry = a("eye_ry") * per_image(nuis["eye_open"]) + 0.01
    for side in (-1.0, 1.0):
        cx = side * a("eye_dx")
        white = _ellipse(uf, v, cx, a("eye_y"), a("eye_rx"), eye_ry, sharp)
        img = _paint(img, white, torch.full((b, 3), 0.92))
        iris = _ellipse(uf, v, cx, a("eye_y"), a("eye_rx") * 0.5, eye_ry, sharp) * white
        img = _paint(img, iris, attrs["iris"])
        pupil = _ellipse(uf, v, cx, a("eye_y"), a("eye_rx") * 0.2, eye_ry * 0.6, sharp) * white
        img = _paint(img, pupil, torch.zeros(b, 3))
        # Brow: a tilted thin band above the eye.
        brow_y = a("eye_y") - 0.11 - per_image(nuis["brow_raise"])
        du = uf - cx
        dv = v - (brow_y + side * a("brow_tilt") * du)
        brow = _soft(1 - (du / (a("eye_rx") * 1.3)) ** 2, sharp) * _soft(
            a("brow_thick") - dv.abs(), sharp * 4
        )
        img = _paint(img, brow, attrs["hair"] * 0.8)

    # Nose: shaded vertical ellipse; mouth: curved band plus optional opening.
    nose = _ellipse(uf, v, 0, a("eye_y") + 0.1 + a("nose_len") / 2, 0.05, a("nose_len") / 2, sharp)
    img = _paint(img, nose * 0.5, attrs["skin"] * 0.7)
    mu = uf / a("mouth_w")
    curve = a("mouth_y") - per_image(nuis["smile"]) * (1 - mu**2) * 0.4
    lips = _soft(1 - mu**2, sharp) * _soft(0.022 + per_image(nuis["mouth_open"]) - (v - curve).abs(),
                                           sharp * 3)
    img = _paint(img, lips, attrs["skin"] * torch.tensor([0.75, 0.35, 0.35]))

    # Illumination: directional gradient and global brightness.
    ang = per_image(nuis["light_angle"])
    light = 1 + per_image(nuis["light_strength"]) * (x * torch.cos(ang) + y * torch.sin(ang))
    img = img * light[:, None] * nuis["brightness"][:, None, None, None]
    img = img + noise_std * torch.randn(img.shape, generator=gen)
    return img.clamp(0, 1)


def generate_faces(spec: FaceSpec, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Generate (images uint8 (N,R,R,3), labels int64 (N,)) deterministically from spec.seed."""
    gen = torch.Generator().manual_seed(spec.seed)
    attrs = _identity_attributes(spec, gen)
    labels = torch.arange(spec.num_identities).repeat_interleave(spec.images_per_identity)
    nuis = _image_nuisance(len(labels), spec.nuisance, gen)
    out = np.empty((len(labels), spec.resolution, spec.resolution, 3), dtype=np.uint8)
    for start in range(0, len(labels), chunk):
        idx = slice(start, start + chunk)
        batch_attrs = {k: v[labels[idx]] for k, v in attrs.items()}
        batch_nuis = {k: v[idx] for k, v in nuis.items()}
        imgs = render_faces(batch_attrs, batch_nuis, spec.resolution, spec.nuisance.noise_std, gen)
        out[idx] = (imgs.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    return out, labels.numpy()
