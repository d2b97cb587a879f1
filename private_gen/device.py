"""Where the score model trains and samples and the quality metrics' networks train (`device=auto|cpu|cuda`).

Random draws come from seeded CPU generators and are moved to the device, so a seed gives the same draws
on every device (GPU kernels may still differ in the last bits).
"""

from __future__ import annotations

import torch

from fedkd.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """`auto`: the first CUDA device when one is visible, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", name, "auto or cpu (no CUDA device is visible to torch here)")
    if name not in DEVICES:
        raise ConfigError("device", name, DEVICES)
    return torch.device(name)


def randn_on(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor
             ) -> torch.Tensor:
    """Standard normal draws from a CPU generator, on `like`'s device and dtype."""
    return torch.randn(shape, generator=generator, dtype=like.dtype).to(like.device)


def rand_on(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor
            ) -> torch.Tensor:
    """Uniform [0, 1) draws from a CPU generator, on `like`'s device and dtype."""
    return torch.rand(shape, generator=generator, dtype=like.dtype).to(like.device)
