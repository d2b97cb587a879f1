"""The Metropolis acceptance rate of each noise level of a corrected Hamiltonian sampler, as PNG and SVG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from fedkd.results.curves import save_figure  # also selects the Agg backend


def save_acceptance(acceptance: Sequence[float], sigmas: Sequence[float], out: Path, title: str) -> list[Path]:
    """One point per level (σ on a log axis, largest first); writes `out`.png and `out`.svg."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(sigmas, acceptance, marker="o")
    ax.set(xscale="log", xlabel="noise level σ", ylabel="acceptance rate", ylim=(0, 1.02),
           title="Metropolis acceptance per level")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    return save_figure(fig, out, title)
