"""Drawing synthetic data sets from a trained score network with the configured annealed sampler, optionally
with classifier-free guidance (Ho & Salimans, arXiv 2207.12598): the score (1+w)·s(x|y) − w·s(x), the
gradient of the log-density p(x|y)^(1+w) / p(x)^w, which sharpens each class at some cost in diversity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import torch
from torch import nn
from tqdm import tqdm

from private_gen.energy_net import EnergyNet
from private_gen.objectives import NULL_LABEL
from private_gen.samplers import SAMPLERS, SamplerResult, SamplerSettings


def balanced_labels(count: int, num_classes: int) -> torch.Tensor:
    return torch.arange(count) % max(num_classes, 1)


def metropolis_corrected(model: nn.Module, sampler: SamplerSettings) -> bool:
    """Whether the sampler accepts or rejects its moves: it asks to, and the model has an energy."""
    return bool(getattr(sampler, "metropolis", False)) and isinstance(model, EnergyNet)


def guided(fn: Callable[..., torch.Tensor], w: float) -> Callable[..., torch.Tensor]:
    """`fn(x, level, label)` (a score or an energy, linear in log-density) combined as (1+w)·fn(x|y) − w·fn(x|∅),
    both halves in one batched network pass; w = 0 is `fn` itself."""
    if w == 0:
        return fn

    def combined(x: torch.Tensor, level: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        both = fn(torch.cat([x, x]), torch.cat([level, level]), torch.cat([label, torch.full_like(label, NULL_LABEL)]))
        conditional, unconditional = both.chunk(2)
        return (1 + w) * conditional - w * unconditional

    return combined


@torch.no_grad()
def sample_score_model(model: nn.Module, labels: torch.Tensor, shape: tuple[int, ...], sampler: SamplerSettings,
                       seed: int, progress: bool = False) -> SamplerResult:
    """Samples for `labels` (ignored by unconditional models), drawn in chunks of `sampler.batch_size`,
    started from uniform noise (Song & Ermon, NeurIPS 2019) on the model's device, clamped to [0, 1] and
    returned on the CPU. With an energy
    model and a Metropolis sampler the acceptance rate per level is the mean over all chains. With guidance
    every score evaluation is two network passes, and the evaluations reported count passes."""
    gen = torch.Generator().manual_seed(seed)
    device = model.sigmas.device
    model.eval()
    run = SAMPLERS[sampler.name].run
    options = {k: v for k, v in asdict(sampler).items() if k not in ("name", "batch_size", "metropolis", "guidance")}
    if sampler.guidance > 0 and not getattr(model, "null_class", False):
        raise ValueError("sampler.guidance needs a model with a null class (generator.objective.label_dropout > 0)")
    score_fn, energy_fn = guided(model, sampler.guidance), guided(getattr(model, "energy", model), sampler.guidance)
    passes = 2 if sampler.guidance > 0 else 1
    corrected = metropolis_corrected(model, sampler)
    chunks, evaluations, acceptance = [], 0, []
    for chunk in tqdm(labels.split(sampler.batch_size), desc=f"sampling ({sampler.name})", disable=not progress):
        chunk = chunk.to(device)

        def levels(x: torch.Tensor, level: int) -> torch.Tensor:
            return torch.full((len(x),), level, dtype=torch.long, device=device)

        def score(x: torch.Tensor, level: int, chunk: torch.Tensor = chunk) -> torch.Tensor:
            return score_fn(x, levels(x, level), chunk)

        if corrected:
            def log_density(x: torch.Tensor, level: int, chunk: torch.Tensor = chunk) -> torch.Tensor:
                return -energy_fn(x, levels(x, level), chunk)

            options["log_density"] = log_density
        start = torch.rand((len(chunk), *shape), generator=gen).to(device)
        result = run(score, start, model.sigmas, generator=gen, **options)
        chunks.append(result.samples.clamp(0, 1).cpu())
        evaluations = result.score_evaluations * passes
        acceptance.append(result.acceptance)
    sizes = torch.tensor([len(c) for c in labels.split(sampler.batch_size)], dtype=torch.float)
    per_level = (sizes @ torch.tensor(acceptance) / sizes.sum()).tolist() if corrected else []
    return SamplerResult(torch.cat(chunks), evaluations, per_level)
