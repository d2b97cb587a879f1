"""Drawing synthetic data sets from a trained score network with the configured annealed sampler."""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn
from tqdm import tqdm

from private_gen.energy_net import EnergyNet
from private_gen.samplers import SAMPLERS, SamplerResult, SamplerSettings


def balanced_labels(count: int, num_classes: int) -> torch.Tensor:
    return torch.arange(count) % max(num_classes, 1)


def metropolis_corrected(model: nn.Module, sampler: SamplerSettings) -> bool:
    """Whether the sampler accepts or rejects its moves: it asks to, and the model has an energy."""
    return bool(getattr(sampler, "metropolis", False)) and isinstance(model, EnergyNet)


@torch.no_grad()
def sample_score_model(model: nn.Module, labels: torch.Tensor, shape: tuple[int, ...], sampler: SamplerSettings,
                       seed: int, progress: bool = False) -> SamplerResult:
    """Samples for `labels` (ignored by unconditional models), drawn in chunks of `sampler.batch_size`,
    started from uniform noise (Song & Ermon, NeurIPS 2019) on the model's device, clamped to [0, 1] and
    returned on the CPU. With an energy
    model and a Metropolis sampler the acceptance rate per level is the mean over all chains."""
    gen = torch.Generator().manual_seed(seed)
    device = model.sigmas.device
    model.eval()
    run = SAMPLERS[sampler.name].run
    options = {k: v for k, v in asdict(sampler).items() if k not in ("name", "batch_size", "metropolis")}
    corrected = metropolis_corrected(model, sampler)
    chunks, evaluations, acceptance = [], 0, []
    for chunk in tqdm(labels.split(sampler.batch_size), desc=f"sampling ({sampler.name})", disable=not progress):
        chunk = chunk.to(device)

        def levels(x: torch.Tensor, level: int) -> torch.Tensor:
            return torch.full((len(x),), level, dtype=torch.long, device=device)

        def score(x: torch.Tensor, level: int, chunk: torch.Tensor = chunk) -> torch.Tensor:
            return model(x, levels(x, level), chunk)

        if corrected:
            def log_density(x: torch.Tensor, level: int, chunk: torch.Tensor = chunk) -> torch.Tensor:
                return -model.energy(x, levels(x, level), chunk)

            options["log_density"] = log_density
        start = torch.rand((len(chunk), *shape), generator=gen).to(device)
        result = run(score, start, model.sigmas, generator=gen, **options)
        chunks.append(result.samples.clamp(0, 1).cpu())
        evaluations = result.score_evaluations
        acceptance.append(result.acceptance)
    sizes = torch.tensor([len(c) for c in labels.split(sampler.batch_size)], dtype=torch.float)
    per_level = (sizes @ torch.tensor(acceptance) / sizes.sum()).tolist() if corrected else []
    return SamplerResult(torch.cat(chunks), evaluations, per_level)
