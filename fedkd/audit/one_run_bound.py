"""The one-run audit's lower bound on ε (Steinke, Nasr & Jagielski, NeurIPS 2023, Theorem 3.1 and Appendix D).

m canaries are each included in training by an independent fair coin. From the released model the auditor
guesses "in" or "out" for r of them (abstaining on the rest) and v guesses are right. If training is (ε, δ)-DP,
P[V ≥ v] ≤ P[Binomial(r, q) ≥ v] + 2mδ·α with q = e^ε / (1 + e^ε) (the accuracy of ε-randomised response) and
α = max_{1≤i≤v} P[v−i ≤ Binomial(r, q) < v] / i. An ε at which that p-value falls below 1 − confidence is ruled
out; the lower bound is the largest such ε. It can show that a run leaks more than it claims, never that it is
private.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

BISECTION_STEPS = 60


def p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[at least v of r guesses right] for an (ε, δ)-DP run with m canaries (the theorem's upper bound)."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError(f"need epsilon >= 0 and 0 <= delta <= 1, got {epsilon}, {delta}")
    q = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(stats.binom.sf(v - 1, r, q))
    if delta == 0 or v == 0:
        return min(tail, 1.0)
    below = np.cumsum(stats.binom.pmf(np.arange(v - 1, -1, -1), r, q))  # P[v-i <= B < v] for i = 1..v
    alpha = float(np.max(below / np.arange(1, v + 1)))
    return min(tail + 2 * m * delta * alpha, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, confidence: float) -> float:
    """The largest ε that v right guesses out of r rule out at `confidence` (0 when none is ruled out)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    level = 1.0 - confidence
    if p_value(m, r, v, 0.0, delta) >= level:
        return 0.0
    lo, hi = 0.0, 1.0
    while p_value(m, r, v, hi, delta) < level:
        lo, hi = hi, 2 * hi
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if p_value(m, r, v, mid, delta) < level else (lo, mid)
    return lo


@dataclass(frozen=True)
class AuditResult:
    """The best bound over the guess counts tried (each at the Bonferroni-corrected confidence)."""

    num_canaries: int
    num_guesses: int
    correct_guesses: int
    epsilon_lower_bound: float
    ceiling: float  # the bound had every guess been right: the most this m, δ and confidence can show
    confidence: float
    delta: float
    guess_counts_tried: tuple[int, ...]

    def as_dict(self) -> dict:
        return asdict(self) | {"guess_counts_tried": list(self.guess_counts_tried)}


def guesses(scores: np.ndarray, count: int) -> np.ndarray:
    """+1 ("in") for the count//2 + count%2 highest scores, −1 for the count//2 lowest, 0 (abstain) elsewhere;
    ties are broken by position, which the coins do not depend on."""
    order = np.argsort(-scores, kind="stable")
    guess = np.zeros(len(scores), dtype=int)
    high = count - count // 2
    guess[order[:high]] = 1
    if count // 2:
        guess[order[len(scores) - count // 2:]] = -1
    return guess


def audit(scores: Sequence[float], included: Sequence[bool], delta: float, confidence: float,
          guess_fractions: Sequence[float]) -> tuple[AuditResult, np.ndarray]:
    """Guess membership from `scores` (higher: more likely included) for each guess count (a fraction of the
    canaries), and keep the largest bound; returns it and the guesses it used."""
    scores = np.asarray(scores, dtype=float)
    truth = np.where(np.asarray(included, dtype=bool), 1, -1)
    m = len(scores)
    counts = sorted({max(1, min(m, round(f * m))) for f in guess_fractions})
    corrected = 1.0 - (1.0 - confidence) / len(counts)  # Bonferroni over the counts tried
    best: tuple[float, int, int, np.ndarray] | None = None
    for count in counts:
        guess = guesses(scores, count)
        right = int(np.sum(guess == truth))
        bound = epsilon_lower_bound(m, count, right, delta, corrected)
        if best is None or bound > best[0]:
            best = (bound, count, right, guess)
    assert best is not None
    bound, count, right, guess = best
    ceiling = max(epsilon_lower_bound(m, c, c, delta, corrected) for c in counts)
    return AuditResult(m, count, right, bound, ceiling, confidence, delta, tuple(counts)), guess
