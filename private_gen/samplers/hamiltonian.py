"""Annealed Hamiltonian dynamics driven by an estimated score (Liu, Wang, Guo et al., arXiv 2305.10662;
Hamiltonian Monte Carlo: Neal, "MCMC using Hamiltonian dynamics", 2011).

At each noise level σ_i (largest first) trajectories of `leapfrog_steps` leapfrog steps of size
ε_i = √α_i integrate dx/dt = p, dp/dt = ∇ₓ log p_σi(x) ≈ s(x, σ_i) with unit mass. Between trajectories
the momentum is partially refreshed, p ← γ p + √(1-γ²) ξ with γ = exp(-friction) per trajectory at
every level, so friction → ∞ is a full refresh and friction = 0 keeps the momentum (no refresh). (A
friction per unit of simulated time would barely refresh at the small-σ levels, whose steps are tiny,
and left the samples of a learned score far worse on the digits.) Each chain's step is
drawn uniformly from ε_i·[1 - jitter, 1 + jitter] per trajectory (Neal 2011, §5.4.2.2): a fixed trajectory
length near half a period of some direction only reflects the chain there and barely mixes it. Where a log-density is
available (an energy model, private_gen/energy_net.py, with `metropolis: true`) a Metropolis step accepts or
rejects each trajectory and flips the momentum on rejection (generalised HMC with partial momentum refresh,
Horowitz 1991; Neal 2011 §5.5.3); a score network has no energy, so that correction is skipped. The random
step size is drawn independently of the state, so the corrected chain keeps p_σi invariant at every level.
The sampler is batched: all chains move together and every score call evaluates the whole batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fedkd.config.fields import at_least, below, setting
from private_gen.device import rand_on, randn_on
from private_gen.samplers.sampler_settings import SamplerSettings
from private_gen.samplers.schedule import LevelLogDensity, LevelScore, SamplerResult, step_sizes


@dataclass
class HMCSettings(SamplerSettings):
    """`sampler=hmc`: annealed Hamiltonian dynamics (leapfrog, partial momentum refresh)."""

    name: str = "hmc"
    leapfrog_steps: int = setting(3, at_least(1))
    step_jitter: float = setting(0.5, at_least(0), below(1), help="each chain's leapfrog step drawn from "
                                 "step·[1 - jitter, 1 + jitter] per trajectory")
    friction: float = setting(2.0, at_least(0), help="momentum kept between trajectories: exp(-friction)")
    metropolis: bool = setting(True, help="accept/reject each trajectory with the learned energy (energy models "
                               "only; a score network has none, and runs uncorrected)")


def _leapfrog(score: LevelScore, x: torch.Tensor, p: torch.Tensor, grad: torch.Tensor, level: int,
              eps: torch.Tensor | float, steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    p = p + 0.5 * eps * grad
    for step in range(steps):
        x = x + eps * p
        grad = score(x, level)
        p = p + (eps if step < steps - 1 else 0.5 * eps) * grad
    return x, p, grad


@torch.no_grad()
def annealed_hamiltonian(score: LevelScore, x: torch.Tensor, sigmas: torch.Tensor, step_size: float,
                         evals_per_level: int, leapfrog_steps: int = 3, friction: float = 1.0,
                         step_jitter: float = 0.0, log_density: LevelLogDensity | None = None,
                         generator: torch.Generator | None = None, denoise: bool = True) -> SamplerResult:
    """About `evals_per_level` score evaluations per level, in trajectories of `leapfrog_steps` steps.

    Each trajectory costs `leapfrog_steps` evaluations (the gradient at its end is reused at the start
    of the next one), plus one per level to start. With `log_density` each trajectory also evaluates the
    energy at its end (the current state's is carried along). Returns the samples, the evaluations spent and,
    with `log_density`, the acceptance rate of each level.
    """
    alphas = step_sizes(sigmas, step_size)
    trajectories = max(1, (evals_per_level - 1) // leapfrog_steps)
    p = randn_on(x.shape, generator, x)
    keep = math.exp(-friction)
    evaluations, acceptance = 0, []
    batch_dims = tuple(range(1, x.dim()))
    for level, alpha in enumerate(alphas.tolist()):
        eps = math.sqrt(alpha)
        grad = score(x, level)
        evaluations += 1
        accepted = 0.0
        log_p = log_density(x, level) if log_density is not None else None
        for _ in range(trajectories):
            p = keep * p + math.sqrt(1.0 - keep ** 2) * randn_on(x.shape, generator, x)
            jitter = 1.0 + step_jitter * (2 * rand_on((len(x), *[1] * (x.dim() - 1)), generator, x) - 1)
            x_new, p_new, grad_new = _leapfrog(score, x, p, grad, level, eps * jitter, leapfrog_steps)
            evaluations += leapfrog_steps
            if log_density is None:
                x, p, grad = x_new, p_new, grad_new
                continue
            log_p_new = log_density(x_new, level)
            log_ratio = log_p_new - 0.5 * p_new.pow(2).sum(batch_dims) - log_p + 0.5 * p.pow(2).sum(batch_dims)
            accept = rand_on(log_ratio.shape, generator, log_ratio) < log_ratio.clamp(max=0).exp()
            mask = accept.view(-1, *([1] * (x.dim() - 1)))
            x = torch.where(mask, x_new, x)
            log_p = torch.where(accept, log_p_new, log_p)
            grad = torch.where(mask, grad_new, grad)
            p = torch.where(mask, p_new, -p)
            accepted += accept.float().mean().item()
        if log_density is not None:
            acceptance.append(accepted / trajectories)
    if denoise:
        x = x + sigmas[-1] ** 2 * score(x, len(sigmas) - 1)
        evaluations += 1
    return SamplerResult(x, evaluations, acceptance)
