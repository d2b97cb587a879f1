"""Low-resolution synthesis: blur, down-sample, add noise, optionally up-sample back.

This is the degradation model used by the low-resolution face recognition literature to make LR
probes from HR faces (e.g. Ge et al., "Low-Resolution Face Recognition in the Wild via Selective
Knowledge Distillation", IEEE TIP 2019): an anti-aliased resize to the target size, optionally
preceded by Gaussian blur and followed by sensor noise and an up-sampling back to the input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fedkd.config.fields import at_least, one_of, setting
from fedkd.config.registry import Registry

KERNELS = ("area", "bilinear", "bicubic", "nearest")


@dataclass
class LowResolution:
    """The `lowres` settings, and the transform itself: callable on float image batches (B,C,H,W) in [0,1]."""

    enabled: bool = setting(True, help="false: train on the data set's own resolution (lowres=none)")
    size: int = setting(16, at_least(4), help="LR side in pixels (8, 12, 16, 24, 32, ...)")
    kernel: str = setting("area", one_of(KERNELS), help="down-sampling kernel")
    blur_sigma: float = setting(0.0, at_least(0), help="Gaussian blur before down-sampling (HR pixels)")
    noise_std: float = setting(0.0, at_least(0), help="Gaussian noise after down-sampling ([0,1] scale)")
    upsample: bool = setting(False, help="resize back to the HR side after degradation")

    def model_side(self, resolution: int) -> int:
        """The side a model sees of images of side `resolution` after this transform."""
        return self.size if self.enabled and not self.upsample else resolution

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        hr_size = images.shape[-2:]
        x = images
        if self.blur_sigma > 0:
            # imported on use: torchvision costs ~1.3 s to import, paid by every ClientApp process of a deployment
            from torchvision.transforms.functional import gaussian_blur

            radius = max(1, int(3 * self.blur_sigma + 0.5))
            x = gaussian_blur(x, kernel_size=2 * radius + 1, sigma=self.blur_sigma)
        if tuple(hr_size) != (self.size, self.size):
            antialias = self.kernel in ("bilinear", "bicubic")
            x = F.interpolate(x, size=(self.size, self.size), mode=self.kernel,
                              **({"antialias": True} if antialias else {}))
        if self.noise_std > 0:
            x = x + self.noise_std * torch.randn(x.shape, generator=generator)
        if self.upsample:
            x = F.interpolate(x, size=tuple(hr_size), mode="bicubic", align_corners=False)
        return x.clamp(0, 1)


LOWRES: Registry[LowResolution] = Registry("lowres")
LOWRES.add("lr16", LowResolution())
LOWRES.add("none", LowResolution(enabled=False))
