"""DP-MERF baseline (Harder, Adamczewski & Park, "DP-MERF: Differentially Private Mean Embeddings with
Random Features for Practical Privacy-Preserving Data Generation", AISTATS 2021).

The class-conditional mean embedding of the data in random Fourier features of a Gaussian kernel,
(1/n) Σ φ(x_i) ⊗ e(y_i), is released once with the Gaussian mechanism; a generator is then trained to
match it, which is post-processing. ‖φ(x) ⊗ e(y)‖ = 1 for every record, so the released sum has
add/remove sensitivity 1 and its noise is N(0, σ²) per coordinate with σ found by the same accountant
as DP-SGD (one composition at sampling rate 1). n is treated as public (as in the paper); generated
labels are drawn uniformly, which matches the embedding's class weights only for balanced data sets
(the embedded ones are balanced).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from fedkd.checkpoint.training_checkpoint import stage_checkpoint
from fedkd.config.fields import NOT_EMPTY, above, at_least, each, setting
from fedkd.privacy.accounting import epsilon, noise_for_target
from private_gen.generator_settings import GeneratorSettings
from private_gen.privacy.dp_sgd import GenDPSettings
from private_gen.privacy.settings import GenPrivacySettings
from private_gen.samplers.schedule import SamplerResult

STEPS_PER_BLOCK = 100  # generator steps per history row and per checkpoint "epoch"


@dataclass
class MerfTrainSettings:
    steps: int = setting(2000, at_least(1))
    batch_size: int = setting(500, at_least(1))
    lr: float = setting(0.001, above(0))
    progress: bool = setting(True)


@dataclass
class DPMERFSettings(GeneratorSettings):
    """`generator=dp_merf`: noisy random-feature mean embedding + generator."""

    name: str = "dp_merf"
    num_features: int = setting(10000, at_least(2), help="random Fourier features D")
    length_scale_per_sqrt_dim: float = setting(0.35, above(0), help="Gaussian kernel length scale = this × "
                                               "√(pixels); fixed, not fitted to data")
    latent_dim: int = setting(10, at_least(1))
    hidden: list[int] = setting([256, 512], NOT_EMPTY, each(above(0)), help="generator layer widths")
    train: MerfTrainSettings = field(default_factory=MerfTrainSettings)


class FourierFeatures(nn.Module):
    """φ(x) = √(2/D)·[cos(Wx), sin(Wx)], W ~ N(0, ℓ⁻² I): k(x, x') ≈ exp(-‖x-x'‖²/(2ℓ²)), ‖φ(x)‖ = 1."""

    def __init__(self, dim: int, num_features: int, length_scale: float, generator: torch.Generator) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.randn(dim, num_features // 2, generator=generator) / length_scale)
        self.scale = math.sqrt(2.0 / (2 * (num_features // 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = x.flatten(1) @ self.freqs
        return self.scale * torch.cat([proj.cos(), proj.sin()], dim=1)


def class_embedding(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Σ_i φ(x_i) ⊗ e(y_i), shape (D, K)."""
    return features.T @ nn.functional.one_hot(labels, num_classes).to(features.dtype)


class MerfGenerator(nn.Module):
    """Fully connected generator G(z, y) → image in [0, 1]."""

    def __init__(self, latent_dim: int, num_classes: int, hidden: list[int], shape: tuple[int, ...]) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.shape = latent_dim, num_classes, shape
        dims = [latent_dim + num_classes, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], math.prod(shape)), nn.Sigmoid())

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(labels, self.num_classes).to(z.dtype)
        return self.net(torch.cat([z, onehot], dim=1)).view(-1, *self.shape)

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self(torch.randn(len(labels), self.latent_dim, generator=generator), labels)


def release_embedding(phi: FourierFeatures, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                      privacy: GenPrivacySettings, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
    """The (noisy, if private) mean embedding and the privacy record of its release."""
    with torch.no_grad():
        total = sum(class_embedding(phi(xb), yb, num_classes)
                    for xb, yb in zip(x.split(1024), y.split(1024), strict=True))
    if not isinstance(privacy, GenDPSettings):
        return total / len(x), {"mechanism": "none", "epsilon": None, "guarantee": "none (non-private)"}
    delta, accountant = privacy.delta, privacy.accountant
    sigma = privacy.noise_multiplier
    if sigma is None:
        sigma = noise_for_target(privacy.target_epsilon, delta, 1.0, 1, accountant)
    noisy = total + sigma * torch.randn(total.shape, generator=generator)
    record = {"mechanism": "Gaussian mechanism on the mean embedding (DP-MERF)",
              "epsilon": epsilon(sigma, 1.0, 1, delta, accountant), "delta": delta, "accountant": accountant,
              "target_epsilon": privacy.target_epsilon, "noise_multiplier": sigma, "sensitivity": 1.0,
              "scope": "sample-level (add/remove one training image), one release", "guarantee": "(ε, δ)-DP"}
    return noisy / len(x), record


def train_dp_merf(x: torch.Tensor, y: torch.Tensor, num_classes: int, settings: DPMERFSettings,
                  privacy: GenPrivacySettings, seed: int
                  ) -> tuple[MerfGenerator, list[dict[str, float]], dict[str, Any]]:
    """Release the embedding, then fit the generator to it; returns generator, history, privacy record."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dim = math.prod(x.shape[1:])
    phi = FourierFeatures(dim, settings.num_features, settings.length_scale_per_sqrt_dim * math.sqrt(dim), gen)
    target, record = release_embedding(phi, x, y, num_classes, privacy, gen)
    generator = MerfGenerator(settings.latent_dim, num_classes, list(settings.hidden), tuple(x.shape[1:]))
    train = settings.train
    optimizer = torch.optim.Adam(generator.parameters(), lr=train.lr)
    history, started, start = [], time.perf_counter(), 0
    # A resumed run releases again from the same seed: the same draws give the same noisy embedding bit for bit,
    # so nothing new is released; the checkpoint then restores the fitting's own state and draws.
    checkpoint, parts = stage_checkpoint("dp-merf generator"), {"generator": generator, "optimizer": optimizer,
                                                                 "draws": gen}
    saved = checkpoint.resume(parts) if checkpoint else None
    if saved is not None:
        history, start = saved.history, saved.extra["step"]
        started -= history[-1]["seconds"] if history else 0.0
    batch, blocks = train.batch_size, math.ceil(train.steps / STEPS_PER_BLOCK)
    for step in tqdm(range(start, train.steps), desc="DP-MERF generator", disable=not train.progress,
                     initial=start, total=train.steps):
        labels = torch.randint(num_classes, (batch,), generator=gen)
        fake = class_embedding(phi(generator.sample(labels, gen)), labels, num_classes) / batch
        loss = (fake - target).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        done = step + 1
        if done % STEPS_PER_BLOCK == 0 or done == train.steps:
            history.append({"step": done, "loss": loss.item(), "seconds": time.perf_counter() - started})
            if checkpoint:
                checkpoint.end_of_epoch(math.ceil(done / STEPS_PER_BLOCK), blocks, parts, history, {"step": done})
    return generator, history, record


def sample_dp_merf(model: MerfGenerator, settings: DPMERFSettings, labels: torch.Tensor, shape: tuple[int, ...],
                   sampler: Any, seed: int) -> SamplerResult:
    """Samples of the fitted generator (one forward pass; no sampler, no score evaluations)."""
    with torch.no_grad():
        return SamplerResult(model.eval().sample(labels, torch.Generator().manual_seed(seed)), None)
