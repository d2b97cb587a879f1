"""Private generation benchmark: SSM+HMC (non-private, DP-SGD at ε ∈ {1, 10}) against DP-MERF at the same ε,
with the residual-enhancement and sampler (HMC vs Langevin at equal score evaluations) ablations.

Usage: python benchmarks/private_generation.py [--datasets mnist_subset digits] [--workers 2]
       [--extra key=value ...] [--dp-extra key=value ...]

Every row is one `fedkd-gen` experiment (configs/gen.yaml defaults plus the overrides below), written to
results/gen/bench/<dataset>/<row>; finished rows are cached (re-running resumes). "real" scores the real
training images themselves (the Fréchet floor and accuracy ceiling at the same sample count). The
Langevin rows resample the trained HMC rows' networks with the same number of score evaluations;
--resample samples every trained score row again (after a sampler change) without retraining.
Writes docs/results/private_generation.{csv,md}. δ = 1e-5 for every private row; ε is sample-level,
cumulative over training, PRV accountant.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["evaluation.num_samples=1000", "generator.train.progress=false"]
DP = ["gen_privacy=dp", "gen_privacy.delta=1e-5", "gen_privacy.accountant=prv"]
ROWS: dict[str, list[str]] = {
    "real": [],
    "ssm-hmc nonprivate": [],
    "ssm-hmc nonprivate, no residual enhancement": ["generator.network.residual_enhancement=false"],
    "ssm-hmc DP ε=10": [*DP, "gen_privacy.target_epsilon=10"],
    "ssm-hmc DP ε=1": [*DP, "gen_privacy.target_epsilon=1"],
    "dp-merf nonprivate": ["generator=dp_merf"],
    "dp-merf DP ε=10": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=10"],
    "dp-merf DP ε=1": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=1"],
}
LANGEVIN_OF = ("ssm-hmc nonprivate", "ssm-hmc DP ε=10")
METRICS = ("frechet_distance", "cnn_accuracy", "logreg_accuracy")


def _slug(row: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in row.replace("ε", "eps")).strip("-")


def _run(dataset: str, row: str, extra: list[str], dp_extra: list[str], threads: int,
         resample_only: bool) -> list[dict[str, Any]]:
    import torch

    from fedkd.paths import expand
    from private_gen.config import load_generation
    from private_gen.evaluation import evaluate
    from private_gen.experiment import load_data, resample, run_generation

    torch.set_num_threads(threads)
    overrides = [f"dataset={dataset}", *COMMON, *ROWS[row], *extra]
    if "gen_privacy=dp" in overrides and not row.startswith("dp-merf"):
        overrides += dp_extra
    config = load_generation(overrides)
    out = ROOT / "results" / "gen" / "bench" / dataset / _slug(row)  # this row's run directories
    base = {"dataset": dataset, "row": row, "samples": config.evaluation.num_samples}
    if row == "real":
        data = load_data(config)
        # a random subset: some sources (the MNIST subset) are stored sorted by class
        pick = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(0))
        pick = pick[: config.evaluation.num_samples]
        return [base | evaluate(config.evaluation, data, data.train_x[pick], data.train_y[pick],
                                config.data.class_conditional, config.seed, expand(config.data_cache))]
    finished = sorted(p for p in out.glob("*") if (p / "generator.pt").is_file() and (p / "summary.json").is_file())
    if resample_only and finished and not row.startswith("dp-merf"):
        run, metrics = finished[-1], resample(config, finished[-1])
    else:
        run = run_generation(config, out)
        metrics = json.loads((run / "summary.json").read_text())
    results = [base | metrics]
    if row in LANGEVIN_OF:
        langevin = load_generation([*overrides, "sampler=langevin"])
        results.append(base | {"row": row.replace("ssm-hmc", "ssm-langevin")} | resample(langevin, run))
    return results


def _privacy_cell(privacy: dict[str, Any] | None) -> str:
    if not privacy or privacy.get("epsilon") is None:
        return privacy["guarantee"] if privacy else "–"
    return f"ε={privacy['epsilon']:.2f}, δ={privacy['delta']:g} ({privacy['accountant'].upper()})"


def write_tables(rows: list[dict[str, Any]], csv_path: Path, md_path: Path) -> None:
    fields = ["dataset", "row", "samples", *METRICS, "epsilon", "delta", "accountant", "noise_multiplier", "steps",
              "train_seconds", "sample_seconds", "score_evaluations_per_sample"]
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            privacy = r.get("privacy") or {}
            writer.writerow(r | {k: privacy.get(k) for k in ("epsilon", "delta", "accountant", "noise_multiplier",
                                                             "steps")})
    lines = ["| data | generator | privacy | samples | Fréchet dist. ↓ | CNN acc. ↑ | logreg acc. ↑ | train s | "
             "sample s | score evals |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        def num(key: str, fmt: str, r: dict[str, Any] = r) -> str:
            return format(r[key], fmt) if r.get(key) is not None else "–"
        lines.append(f"| {r['dataset']} | {r['row']} | {_privacy_cell(r.get('privacy'))} | {r['samples']} | "
                     f"{num('frechet_distance', '.1f')} | {num('cnn_accuracy', '.3f')} | "
                     f"{num('logreg_accuracy', '.3f')} | "
                     f"{num('train_seconds', '.0f')} | {num('sample_seconds', '.0f')} | "
                     f"{num('score_evaluations_per_sample', 'd')} |")
    md_path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mnist_subset", "digits"])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--extra", nargs="*", default=[], help="Hydra overrides for every row")
    parser.add_argument("--dp-extra", nargs="*", default=[], help="Hydra overrides for the DP-SGD rows")
    parser.add_argument("--resample", action="store_true",
                        help="re-run the rows, sampling trained score models again instead of retraining")
    parser.add_argument("--tables-only", action="store_true", help="write the tables from the finished rows")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gen" / "bench")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    done = args.out / "done"
    done.mkdir(parents=True, exist_ok=True)
    jobs = [(d, r) for d in args.datasets for r in args.rows]
    todo = [] if args.tables_only else [
        j for j in jobs if args.resample or not (done / f"{j[0]}-{_slug(j[1])}.json").exists()]
    threads = max(1, 2 // args.workers)
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run, d, r, args.extra, args.dp_extra, threads, args.resample): (d, r) for d, r in todo}
        for count, future in enumerate(as_completed(futures), 1):
            dataset, row = futures[future]
            results = future.result()
            (done / f"{dataset}-{_slug(row)}.json").write_text(json.dumps(results))
            first = results[0]
            print(f"[{count}/{len(todo)}] {dataset} {row}: FD {first['frechet_distance']:.1f} "
                  f"CNN {first.get('cnn_accuracy', float('nan')):.3f} ({time.perf_counter() - started:.0f} s)",
                  flush=True)
    everything = [(d, r) for d in ("mnist_subset", "digits") for r in ROWS]  # the table keeps every finished row
    rows = [r for d, row in everything if (done / f"{d}-{_slug(row)}.json").exists()
            for r in json.loads((done / f"{d}-{_slug(row)}.json").read_text())]
    args.docs.mkdir(parents=True, exist_ok=True)
    write_tables(rows, args.docs / "private_generation.csv", args.docs / "private_generation.md")
    print((args.docs / "private_generation.md").read_text())


if __name__ == "__main__":
    main()
