"""Annealed samplers driven by a score function: Hamiltonian dynamics and Langevin dynamics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fedkd.config.registry import Registry
from private_gen.samplers.hamiltonian import HMCSettings, annealed_hamiltonian
from private_gen.samplers.langevin import LangevinSettings, annealed_langevin
from private_gen.samplers.sampler_settings import SamplerSettings
from private_gen.samplers.schedule import LevelScore, SamplerResult, step_sizes


@dataclass(frozen=True)
class Sampler:
    settings: SamplerSettings
    run: Callable[..., SamplerResult]   # (score, start, sigmas, generator=..., **the settings' own fields)


SAMPLERS: Registry[Sampler] = Registry("sampler", lambda entry: entry.settings)
SAMPLERS.add("hmc", Sampler(HMCSettings(), annealed_hamiltonian))
SAMPLERS.add("langevin", Sampler(LangevinSettings(), annealed_langevin))

__all__ = ["SAMPLERS", "LevelScore", "SamplerResult", "SamplerSettings", "annealed_hamiltonian", "annealed_langevin",
           "step_sizes"]
