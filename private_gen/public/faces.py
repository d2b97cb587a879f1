"""Procedural faces of public identities: the project's face generator (fedkd/data/synthetic_faces.py) with a
seed no private face set uses, so its identities are new draws of every identity attribute and no private
record is read to make them."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.nn import functional as F

from fedkd.data.synthetic_faces import FaceSpec, generate_faces

PUBLIC_SEED_OFFSET = 1_000_003  # far from the seeds private face sets are made with


def public_face_spec(private: FaceSpec, num_identities: int, images_per_identity: int) -> FaceSpec:
    return replace(private, num_identities=num_identities, images_per_identity=images_per_identity,
                   seed=private.seed + PUBLIC_SEED_OFFSET)


def render_public_faces(spec: FaceSpec, side: int, channels: int) -> torch.Tensor:
    """(N, channels, side, side) in [0, 1]: the public faces at the private set's shape."""
    images, _ = generate_faces(spec)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    if channels == 1:
        x = x.mean(1, keepdim=True)
    return F.interpolate(x, size=(side, side), mode="area").clamp(0, 1).to(memory_format=torch.contiguous_format)
