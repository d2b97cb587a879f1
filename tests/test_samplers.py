"""Annealed samplers driven by an exact Gaussian score recover its mean and covariance; the score
evaluation count each sampler reports is what it spent."""

from __future__ import annotations

import pytest
import torch

from private_gen.samplers import annealed_hamiltonian, annealed_langevin

MEAN = torch.tensor([1.0, -2.0])
COV = torch.tensor([[1.0, 0.6], [0.6, 0.5]])
PRECISION = torch.linalg.inv(COV)


def gaussian_score(x: torch.Tensor, level: int) -> torch.Tensor:
    return -(x - MEAN) @ PRECISION


def gaussian_log_density(x: torch.Tensor, level: int) -> torch.Tensor:
    d = x - MEAN
    return -0.5 * ((d @ PRECISION) * d).sum(1)


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean(0), torch.cov(x.T)


@pytest.mark.parametrize("metropolis", [True, False])
def test_hamiltonian_recovers_gaussian_mean_and_covariance(metropolis):
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(4000, 2, generator=gen) * 3
    result = annealed_hamiltonian(gaussian_score, start, torch.tensor([1.0]), step_size=0.04, evals_per_level=301,
                                  leapfrog_steps=5, friction=1.0, step_jitter=0.5, generator=gen, denoise=False,
                                  log_density=gaussian_log_density if metropolis else None)
    mean, cov = moments(result.samples)
    torch.testing.assert_close(mean, MEAN, atol=0.05, rtol=0)
    torch.testing.assert_close(cov, COV, atol=0.06, rtol=0)
    if metropolis:
        assert 0.8 < result.acceptance[0] <= 1.0


def test_metropolis_keeps_the_target_with_a_step_too_large_for_plain_leapfrog():
    """ε = 1.2 is unstable-ish for the stiff direction; accept/reject still leaves N(μ, Σ) invariant."""
    gen = torch.Generator().manual_seed(1)
    start = MEAN + torch.randn(4000, 2, generator=gen) @ torch.linalg.cholesky(COV).T
    result = annealed_hamiltonian(gaussian_score, start, torch.tensor([1.0]), step_size=1.44, evals_per_level=61,
                                  leapfrog_steps=3, friction=0.5, step_jitter=0.5, generator=gen, denoise=False,
                                  log_density=gaussian_log_density)
    mean, cov = moments(result.samples)
    torch.testing.assert_close(mean, MEAN, atol=0.06, rtol=0)
    torch.testing.assert_close(cov, COV, atol=0.08, rtol=0)
    assert result.acceptance[0] < 0.95


def test_langevin_approximately_recovers_the_gaussian():
    gen = torch.Generator().manual_seed(2)
    result = annealed_langevin(gaussian_score, torch.randn(4000, 2, generator=gen) * 3, torch.tensor([1.0]),
                               step_size=0.01, evals_per_level=1500, generator=gen, denoise=False)
    mean, cov = moments(result.samples)
    torch.testing.assert_close(mean, MEAN, atol=0.06, rtol=0)
    torch.testing.assert_close(cov, COV, atol=0.08, rtol=0)


def test_samplers_report_the_score_evaluations_they_spent():
    calls = []

    def counting(x: torch.Tensor, level: int) -> torch.Tensor:
        calls.append(level)
        return gaussian_score(x, level)

    sigmas = torch.tensor([1.0, 0.5, 0.25])
    hmc = annealed_hamiltonian(counting, torch.zeros(3, 2), sigmas, 0.01, evals_per_level=31, leapfrog_steps=3)
    assert hmc.score_evaluations == len(calls) == 3 * 31 + 1
    assert calls[-1] == 2 and calls[0] == 0
    calls.clear()
    langevin = annealed_langevin(counting, torch.zeros(3, 2), sigmas, 0.01, evals_per_level=31)
    assert langevin.score_evaluations == len(calls) == hmc.score_evaluations
