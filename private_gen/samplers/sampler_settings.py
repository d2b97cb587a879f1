"""What every annealed sampler's settings have (`sampler=<name>`); each sampler adds its own."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from fedkd.config.fields import above, at_least, setting


@dataclass
class SamplerSettings:
    name: str = MISSING
    step_size: float = setting(2.0e-5, above(0), help="α at the smallest σ; α_i = step_size·σ_i²/σ_L²")
    evals_per_level: int = setting(31, at_least(1), help="score evaluations per level")
    denoise: bool = setting(True, help="final Tweedie step x + σ_L² s(x)")
    batch_size: int = setting(128, at_least(1), help="chains sampled together (on a CPU 64-128 run 1.6x faster "
                             "than 500, which leave the cache: benchmarks/sampling_speed.py; larger on a GPU)")
    guidance: float = setting(0.0, at_least(0), help="classifier-free guidance w: the score (1+w)·s(x|y) − w·s(x) "
                              "(two network passes per evaluation); needs a model trained with "
                              "generator.objective.label_dropout > 0; 0: the conditional score")
