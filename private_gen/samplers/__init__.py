"""Annealed samplers driven by a score function: Hamiltonian dynamics and Langevin dynamics."""

from private_gen.samplers.hamiltonian import annealed_hamiltonian
from private_gen.samplers.langevin import annealed_langevin
from private_gen.samplers.schedule import LevelScore, SamplerResult, step_sizes

SAMPLERS = {"hmc": annealed_hamiltonian, "langevin": annealed_langevin}

__all__ = ["SAMPLERS", "LevelScore", "SamplerResult", "annealed_hamiltonian", "annealed_langevin", "step_sizes"]
