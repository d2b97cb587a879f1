"""The comparison's figure: final-round personal accuracy per method, mean ± std over seeds, one panel per data
set, one bar group per partition (PNG and SVG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from benchmarks.personalization.grid import METHODS


def draw(table: list[dict[str, Any]], out: Path) -> list[Path]:
    datasets = list(dict.fromkeys(e["dataset"] for e in table))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.2), squeeze=False)
    methods = [m for m in METHODS if any(e["method"] == m for e in table)]
    width = 0.8 / max(len(methods), 1)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        partitions = list(dict.fromkeys(e["partition"] for e in table if e["dataset"] == dataset))
        for i, method in enumerate(methods):
            cells = [next((e for e in table if (e["dataset"], e["partition"], e["method"]) == (dataset, p, method)),
                          None) for p in partitions]
            means = [c["final_personal_mean"] if c else np.nan for c in cells]
            stds = [c["final_personal_std"] if c else 0 for c in cells]
            ax.bar(np.arange(len(partitions)) + i * width, means, width, yerr=stds, label=METHODS[method],
                   capsize=2, hatch="//" if method == "fedckd" else None)
        ax.set_xticks(np.arange(len(partitions)) + 0.4 - width / 2, partitions)
        ax.set(title=dataset, ylabel="final personal accuracy (client mean)", ylim=(0, 1))
    axes[0][-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    paths = [out.with_suffix(s) for s in (".png", ".svg")]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths
