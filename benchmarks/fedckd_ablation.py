"""Which of FedCKD's teachers, and which temperature, its tuned result owes to: each variant changes one tuned
value and reruns the comparison's report runs (same partitions, seeds and all other values).

Usage: python benchmarks/fedckd_ablation.py [--dataset faces] [--workers 2] [--out results/personalization]
           [--docs docs/results]

Needs the comparison's FedCKD tuning and report runs for the data set (benchmarks/personalization_comparison.py).
A diagnostic on the test split: it explains the reported numbers and chooses nothing. Runs are cached under
<out>/ablation like the comparison's; the table goes to <docs>/fedckd_ablation_<dataset>.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.personalization.grid import PARTITIONS, REPORT_SEEDS, Run  # noqa: E402
from benchmarks.personalization.report import mean_std, within_noise  # noqa: E402
from benchmarks.personalization_comparison import (  # noqa: E402
    finished_rows,
    finished_runs,
    one_run,
    tuned_overrides,
)

VARIANTS = {"no global teacher": "strategy.lambda_global=0", "no historical teacher": "strategy.lambda_historical=0",
            "T = 1": "strategy.temperature=1"}
COLUMNS = ("final_personal", "student_train_accuracy", "final_global")


def jobs(out: Path, dataset: str, tuned: list[str]) -> list[dict]:
    done = finished_runs(out / "ablation")
    todo = []
    for variant, override in VARIANTS.items():
        for partition in PARTITIONS:
            for seed in REPORT_SEEDS:
                run = Run(dataset, partition, "fedckd", seed)
                name = override.partition("=")[0]
                key = f"{run.key}-{override.removeprefix('strategy.').replace('=', '')}"
                changed = [o for o in tuned if o.partition("=")[0] != name] + [override]
                overrides = [o for o in run.overrides(changed) if not o.startswith("output.name=")]
                overrides.append(f"output.name={key}")
                if done.get(key) != overrides:
                    todo.append({"key": key, "dataset": dataset, "partition": partition, "method": variant,
                                 "seed": seed, "overrides": overrides, "out": str(out / "ablation")})
    return todo


def table(out: Path, dataset: str) -> str:
    tuned_rows = [r for r in finished_rows(out, [dataset]) if r["method"] == "fedckd"]
    rows = [r | {"method": "tuned"} for r in tuned_rows] + finished_rows(out / "ablation", [dataset])
    lines = [f"FedCKD ablation on {dataset} (test split, seeds {', '.join(map(str, REPORT_SEEDS))}; mean ± std; "
             "Δ: paired difference of final personal accuracy from the tuned run, * beyond seed noise)", "",
             "| variant | partition | final personal | Δ | student train acc | final global |",
             "|---|---|---:|---:|---:|---:|"]
    for variant in ("tuned", *VARIANTS):
        for partition in PARTITIONS:
            cell, base = (sorted((r for r in rows if r["method"] == m and r["partition"] == partition),
                                 key=lambda r: r["seed"]) for m in (variant, "tuned"))
            if not cell:
                continue
            personal, train, shared = (mean_std([float(r[c]) for r in cell]) for c in COLUMNS)
            ours, theirs = [float(r["final_personal"]) for r in cell], [float(r["final_personal"]) for r in base]
            delta = "–"
            if variant != "tuned" and len(ours) == len(theirs):
                mark = "" if within_noise(theirs, ours) else " *"
                delta = f"{personal[0] - mean_std(theirs)[0]:+.3f}{mark}"
            lines.append(f"| {variant} | {partition} | {personal[0]:.3f} ± {personal[1]:.3f} | {delta} "
                         f"| {train[0]:.3f} | {shared[0]:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="faces")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "personalization")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    tuned = tuned_overrides(args.out, args.dataset, "fedckd")
    if tuned is None:
        sys.exit(f"error: no FedCKD tuning for dataset {args.dataset!r} under {args.out}; run "
                 f"benchmarks/personalization_comparison.py --stage tune --datasets {args.dataset} first")
    for sub in ("runs", "logs", "done"):
        (args.out / "ablation" / sub).mkdir(parents=True, exist_ok=True)
    todo = jobs(args.out, args.dataset, tuned)
    print(f"{len(todo)} ablation runs to do on {args.workers} workers", flush=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        for row in pool.map(one_run, todo):
            print(f"{row['key']}: personal {row['final_personal']:.3f}", flush=True)
    text = table(args.out, args.dataset)
    path = args.docs / f"fedckd_ablation_{args.dataset}.md"
    path.write_text(f"Command: `python benchmarks/fedckd_ablation.py --dataset {args.dataset}`\n\n{text}\n")
    print(text)
    print(path)


if __name__ == "__main__":
    main()
