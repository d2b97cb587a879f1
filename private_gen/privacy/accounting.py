"""Privacy accounting with Opacus' accountants (RDP: Mironov et al. 2019; PRV: Gopi, Lee & Wutschitz,
NeurIPS 2021) for the Poisson-subsampled Gaussian mechanism, add/remove-one-record adjacency."""

from __future__ import annotations

from opacus.accountants import IAccountant, create_accountant
from opacus.accountants.utils import get_noise_multiplier

ACCOUNTANTS = ("rdp", "prv")


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    """ε after `steps` compositions of the subsampled Gaussian mechanism; 0 for no steps."""
    if steps == 0:
        return 0.0
    acc = create_accountant(accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta))


def noise_for_target(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str) -> float:
    """The smallest noise multiplier (to Opacus' search tolerance) whose ε over `steps` is ≤ the target."""
    return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                      steps=steps, accountant=accountant, epsilon_tolerance=0.005))


def steps_within_budget(noise_multiplier: float, sample_rate: float, target_epsilon: float, delta: float,
                        accountant: str, max_steps: int) -> int:
    """The largest step count ≤ `max_steps` whose ε stays within `target_epsilon` (binary search)."""
    if epsilon(noise_multiplier, sample_rate, max_steps, delta, accountant) <= target_epsilon:
        return max_steps
    lo, hi = 0, max_steps  # ε(lo) ≤ target < ε(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if epsilon(noise_multiplier, sample_rate, mid, delta, accountant) <= target_epsilon:
            lo = mid
        else:
            hi = mid
    return lo


def spent(accountant: IAccountant, delta: float) -> float:
    """ε spent so far by a live accountant (0 before its first step)."""
    return float(accountant.get_epsilon(delta)) if accountant.history else 0.0
