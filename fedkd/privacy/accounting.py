"""Privacy accounting with Opacus' accountants (RDP: Mironov et al. 2019; PRV: Gopi, Lee & Wutschitz,
NeurIPS 2021) for the Poisson-subsampled Gaussian mechanism, add/remove-one-record adjacency.

A history is the list of (noise multiplier, sample rate, steps) compositions an accountant has seen;
it is what a client keeps in its state so that its ε is cumulative over all its participations.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opacus.accountants import IAccountant

ACCOUNTANTS = ("rdp", "prv")
Composition = tuple[float, float, int]  # (noise multiplier, sample rate, steps)


def _quiet_known_warnings() -> None:
    """Two warnings of Opacus' accountants that say nothing wrong: RDP's "optimal order is the largest alpha" (a
    looser bound, still a valid one), and PRV's log(1 − q) at q = 1 (one release of the whole set, as DP-MERF's;
    its `np.where` then takes the right branch, checked against dp-accounting's PLD in the tests)."""
    warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
    warnings.filterwarnings("ignore", message="divide by zero encountered in log", category=RuntimeWarning)


def epsilon_of(history: Sequence[Composition], delta: float, accountant: str) -> float:
    """ε of all compositions in `history` together; 0 when nothing was released."""
    merged: dict[tuple[float, float], int] = {}  # compositions of one (σ, q) add up their steps
    for sigma, q, steps in history:
        if steps > 0:
            merged[(float(sigma), float(q))] = merged.get((float(sigma), float(q)), 0) + int(steps)
    return _epsilon(tuple((s, q, n) for (s, q), n in merged.items()), float(delta), accountant)


@lru_cache(maxsize=4096)
def _epsilon(history: tuple[Composition, ...], delta: float, accountant: str) -> float:
    if not history:
        return 0.0
    from opacus.accountants import create_accountant  # imported on use: see fedkd/privacy/__init__.py

    acc = create_accountant(accountant)
    acc.history = list(history)
    with warnings.catch_warnings():
        _quiet_known_warnings()
        return float(acc.get_epsilon(delta))


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    """ε after `steps` compositions of the subsampled Gaussian mechanism; 0 for no steps."""
    return epsilon_of([(noise_multiplier, sample_rate, steps)], delta, accountant)


@lru_cache(maxsize=256)
def noise_for_target(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str,
                     history: tuple[Composition, ...] = ()) -> float:
    """The smallest noise multiplier (to Opacus' search tolerance) whose ε over `steps`, composed after what
    `history` already spent, is ≤ the target. ValueError when `history` alone reaches the target."""
    if history:
        return _noise_after(target_epsilon, delta, sample_rate, steps, accountant, history)
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():
        _quiet_known_warnings()
        return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                          sample_rate=sample_rate, steps=steps, accountant=accountant,
                                          epsilon_tolerance=0.005))


def _noise_after(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str,
                 history: tuple[Composition, ...], tolerance: float = 0.005) -> float:
    """Bisection on σ (ε falls as σ grows) to Opacus' tolerance: the σ returned keeps ε within the target."""
    if epsilon_of(history, delta, accountant) >= target_epsilon:
        raise ValueError(f"the compositions before spend ε ≥ {target_epsilon} on their own")

    def eps(sigma: float) -> float:
        return epsilon_of([*history, (sigma, sample_rate, steps)], delta, accountant)

    low, high = 0.0, 1.0
    while eps(high) > target_epsilon:
        low, high = high, 2 * high
    while target_epsilon - eps(high) > tolerance and high - low > 1e-6:
        mid = (low + high) / 2
        low, high = (mid, high) if eps(mid) > target_epsilon else (low, mid)
    return high


def steps_within_budget(noise_multiplier: float, sample_rate: float, target_epsilon: float, delta: float,
                        accountant: str, max_steps: int, history: Sequence[Composition] = ()) -> int:
    """The largest step count ≤ `max_steps` that, added to `history`, keeps ε within `target_epsilon`."""
    def fits(steps: int) -> bool:
        return epsilon_of([*history, (noise_multiplier, sample_rate, steps)], delta, accountant) <= target_epsilon

    if fits(max_steps):
        return max_steps
    lo, hi = 0, max_steps  # fits(lo) (or lo = 0) and not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def spent(accountant: IAccountant, delta: float) -> float:
    """ε spent so far by a live accountant (0 before its first step)."""
    if not accountant.history:
        return 0.0
    with warnings.catch_warnings():
        _quiet_known_warnings()
        return float(accountant.get_epsilon(delta))
