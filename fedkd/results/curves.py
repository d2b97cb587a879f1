"""Learning curves of one federated run (curves.png and curves.svg in its directory): personal and global
accuracy per evaluated round, the workload's verification scores where it has them, and the training loss
with each of its terms per round."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ACCURACY_SERIES = (("personal_accuracy_client_mean", "personal (client mean ± std)"),
                   ("global_accuracy", "global (trained clients)"))
VERIFICATION_SERIES = (("personal_verification_accuracy_client_mean", "personal verification (mean ± std)"),
                       ("global_verification_accuracy", "global verification"),
                       ("personal_verification_tar_client_mean", "personal TAR@FAR"),
                       ("global_verification_tar", "global TAR@FAR"))
FORMATS = (".png", ".svg")


def series(rounds: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(rounds, values) of the rows that carry a value for `key`."""
    kept = [r for r in rounds if r.get(key) not in (None, "")]
    return [int(r["round"]) for r in kept], [float(r[key]) for r in kept]


def loss_keys(rounds: Sequence[dict[str, Any]]) -> list[str]:
    return ["train_loss", *sorted({k for r in rounds for k in r if k.startswith("loss_") and r[k] not in (None, "")})]


def _band(ax: plt.Axes, rounds: Sequence[dict[str, Any]], key: str, label: str) -> bool:
    x, y = series(rounds, key)
    if not x:
        return False
    ax.plot(x, y, marker="o", markersize=3, label=label)
    if key.endswith("_client_mean"):
        _, std = series(rounds, key.replace("_client_mean", "_client_std"))
        if len(std) == len(y):
            ax.fill_between(x, [m - s for m, s in zip(y, std, strict=True)],
                            [m + s for m, s in zip(y, std, strict=True)], alpha=0.2)
    return True


def draw_run_curves(rounds: Sequence[dict[str, Any]], out: Path, title: str) -> list[Path]:
    """Write `out`.png and `out`.svg; returns their paths."""
    panels = [("accuracy", ACCURACY_SERIES)]
    if any("personal_verification_accuracy_client_mean" in r for r in rounds):
        panels.append(("verification on held-out identities", VERIFICATION_SERIES))
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(5 * (len(panels) + 1), 3.8), squeeze=False)
    for ax, (name, keys) in zip(axes[0], panels, strict=False):
        if any([_band(ax, rounds, key, label) for key, label in keys]):
            ax.legend(fontsize=8)
        ax.set(xlabel="round", ylabel=name, title=name)
    loss_ax = axes[0][-1]
    for key in loss_keys(rounds):
        x, y = series(rounds, key)
        if x:
            loss_ax.plot(x, y, label=key)
    loss_ax.set(xlabel="round", ylabel="mean over trained clients", title="training loss and its terms")
    loss_ax.legend(fontsize=8)
    for ax in axes[0]:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    return save_figure(fig, out, title)


def save_figure(fig: plt.Figure, out: Path, title: str) -> list[Path]:
    """Title, lay out and write `fig` as `out`.png and `out`.svg; returns their paths."""
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    paths = [out.with_suffix(suffix) for suffix in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths
