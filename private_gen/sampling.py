"""Drawing synthetic data sets from a trained score network with the configured annealed sampler."""

from __future__ import annotations

from dataclasses import asdict

import torch
from tqdm import tqdm

from private_gen.samplers import SAMPLERS, SamplerResult, SamplerSettings
from private_gen.score_net import ScoreNet


def balanced_labels(count: int, num_classes: int) -> torch.Tensor:
    return torch.arange(count) % max(num_classes, 1)


@torch.no_grad()
def sample_score_model(model: ScoreNet, labels: torch.Tensor, shape: tuple[int, ...], sampler: SamplerSettings,
                       seed: int, progress: bool = False) -> SamplerResult:
    """Samples for `labels` (ignored by unconditional models), drawn in chunks of `sampler.batch_size`,
    started from uniform noise (Song & Ermon, NeurIPS 2019) and clamped to [0, 1] at the end."""
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    run = SAMPLERS[sampler.name].run
    options = {k: v for k, v in asdict(sampler).items() if k not in ("name", "batch_size")}
    chunks, evaluations = [], 0
    for chunk in tqdm(labels.split(sampler.batch_size), desc=f"sampling ({sampler.name})", disable=not progress):
        def score(x: torch.Tensor, level: int, chunk: torch.Tensor = chunk) -> torch.Tensor:
            return model(x, torch.full((len(x),), level, dtype=torch.long), chunk)

        start = torch.rand((len(chunk), *shape), generator=gen)
        result = run(score, start, model.sigmas, generator=gen, **options)
        chunks.append(result.samples.clamp(0, 1))
        evaluations = result.score_evaluations
    return SamplerResult(torch.cat(chunks), evaluations)
