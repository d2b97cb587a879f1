"""Private generation benchmark: the score model's objectives (SSM-VR, SSM, DSM), parameterisations (score,
energy with Metropolis-corrected HMC), public glyph pretraining and the private DP-MERF warm start, non-private
and under DP-SGD at ε ∈ {1, 10}, against DP-MERF at the same ε, with the residual-enhancement and sampler (HMC
vs Langevin at equal score evaluations, Metropolis on vs off) ablations.

Usage: python benchmarks/private_generation.py [--preset cpu|gpu] [--data-root DIR] [--datasets ...] [--rows ...]
       [--seeds 0 1 2] [--workers 2] [--extra key=value ...] [--dp-extra key=value ...]

Every (data set, row, seed) is one `fedkd-gen` experiment (configs/gen.yaml defaults plus the overrides below),
written to results/gen/<preset's folder>/<dataset>/<row>; finished ones are cached (re-running skips them) and an
interrupted one continues from its checkpoints when the same row and seed run again. The
preset (benchmarks/gen_presets.py) chooses the data sets and adds its settings to every row: `cpu` (default) for
this 2-core machine, `gpu` for one CUDA device (the full MNIST and Fashion-MNIST from --data-root, a large
procedural face set; tables in docs/results/private_generation_gpu.*; the cpu preset's digits rows go to
docs/results/private_generation_digits.*). "real" scores the
real training images themselves (the Fréchet floor and accuracy ceiling at the same sample count). The
Langevin and uncorrected-HMC rows resample a trained row's network with the same number of score evaluations;
--resample samples every trained score row again (after a sampler change) without retraining. The table is the
mean (± std where there are several) over the seeds that have finished. Writes
docs/results/<each data set's table>.{csv,md}, keeping the rows already there (a run from a fresh clone adds rows, it
never drops those whose results folders it lacks). δ = 1e-5 for every private row; ε is sample-level, cumulative over
the private training steps (pretraining on public glyphs is not counted: it sees no private record; the DP-MERF
warm start's release is, composed with the DP-SGD steps), PRV accountant.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.gen_presets import PRESETS, preset_overrides, runs_on  # noqa: E402
from fedkd.errors import UserError  # noqa: E402

COMMON = ["evaluation.num_samples=1000", "generator.train.progress=false"]
DP = ["gen_privacy=dp", "gen_privacy.delta=1e-5", "gen_privacy.accountant=prv"]
DSM, SSM, ENERGY, GLYPHS = (["generator.objective.kind=dsm"], ["generator.objective.kind=ssm"],
                             ["generator.parameterization=energy"], ["pretrain=glyphs"])
EPS10, EPS1 = [*DP, "gen_privacy.target_epsilon=10"], [*DP, "gen_privacy.target_epsilon=1"]
# chosen on the digits' validation figures at tuning seed 10 (docs/private_gen.md, "Tuning the DP rows")
CONDITIONING = ["generator.train.trainable=conditioning", "generator.train.lr=0.03"]
MERF_TUNED = ["generator.length_scale_per_sqrt_dim=0.2"]
MERF_LATENT = [*MERF_TUNED, "generator.latent_dim=20"]  # the digits' second round of tuning (2026-12-04)
# glyphs bent towards handwriting (Simard et al. 2003's elastic distortion), public data like the plain glyphs
ELASTIC = [*GLYPHS, "pretrain.glyphs.elastic_shift=0.06"]
# a private warm start: DP-MERF's release takes half of ε, the score model pretrains on its samples, DP-SGD the rest
MERF_WARM = ["pretrain=dp_merf"]
ROWS: dict[str, list[str]] = {
    "real": [],
    "ssm-hmc nonprivate": [],
    "ssm-hmc nonprivate, no residual enhancement": ["generator.network.residual_enhancement=false"],
    "plain-ssm-hmc nonprivate": SSM,
    "dsm-hmc nonprivate": DSM,
    "energy-dsm-mhmc nonprivate": [*ENERGY, *DSM],
    "dsm-hmc nonprivate, glyph pretraining": [*DSM, *GLYPHS],
    "dsm-hmc glyph pretraining only (no private data)": [*DSM, *GLYPHS, "generator.train.epochs=0"],
    "ssm-hmc DP ε=10": EPS10,
    "ssm-hmc DP ε=1": EPS1,
    "dsm-hmc DP ε=10": [*DSM, *EPS10],
    "ssm-hmc DP ε=10, glyph pretraining": [*GLYPHS, *EPS10],
    "dsm-hmc DP ε=10, glyph pretraining": [*DSM, *GLYPHS, *EPS10],
    "energy-dsm-mhmc DP ε=10, glyph pretraining": [*ENERGY, *DSM, *GLYPHS, *EPS10],
    "dsm-hmc DP ε=1, glyph pretraining": [*DSM, *GLYPHS, *EPS1],
    "dsm-hmc DP ε=10, glyph pretraining, lr 3e-3": [*DSM, *GLYPHS, *EPS10, "generator.train.lr=0.003"],
    "dsm-hmc DP ε=10, glyph pretraining, lr 3e-4": [*DSM, *GLYPHS, *EPS10, "generator.train.lr=0.0003"],
    "dsm-hmc DP ε=10, glyph pretraining, conditioning only, lr 3e-2": [*DSM, *GLYPHS, *EPS10, *CONDITIONING],
    "dsm-hmc DP ε=1, glyph pretraining, conditioning only, lr 3e-2": [*DSM, *GLYPHS, *EPS1, *CONDITIONING],
    "dsm-hmc DP ε=10, DP-MERF warm start": [*DSM, *MERF_WARM, *EPS10],
    "dsm-hmc DP ε=1, DP-MERF warm start": [*DSM, *MERF_WARM, *EPS1],
    # what the score model keeps of DP-MERF's samples before any fine-tuning (the release non-private here)
    "dsm-hmc non-private DP-MERF warm start only": [*DSM, *MERF_WARM, "generator.train.epochs=0"],
    "dsm-hmc elastic glyph pretraining only (no private data)": [*DSM, *ELASTIC, "generator.train.epochs=0"],
    "dsm-hmc DP ε=10, elastic glyph pretraining": [*DSM, *ELASTIC, *EPS10],
    "dp-merf nonprivate": ["generator=dp_merf"],
    "dp-merf DP ε=10": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=10"],
    "dp-merf DP ε=1": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=1"],
    "dp-merf DP ε=5": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=5"],  # the warm start's release alone
    "dp-merf DP ε=10, ℓ 0.2": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=10", *MERF_TUNED],
    "dp-merf DP ε=1, ℓ 0.2": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=1", *MERF_TUNED],
    "dp-merf DP ε=10, ℓ 0.2, latent 20": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=10", *MERF_LATENT],
    "dp-merf DP ε=1, ℓ 0.2, latent 20": ["generator=dp_merf", *DP, "gen_privacy.target_epsilon=1", *MERF_LATENT],
}
LANGEVIN_OF = ("ssm-hmc nonprivate", "ssm-hmc DP ε=10", "energy-dsm-mhmc nonprivate")
UNCORRECTED_OF = ("energy-dsm-mhmc nonprivate", "energy-dsm-mhmc DP ε=10, glyph pretraining")
METRICS = ("frechet_distance", "cnn_accuracy", "logreg_accuracy")


def _slug(row: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in row.replace("ε", "eps")).strip("-")


def _done_path(done: Path, dataset: str, row: str, seed: int) -> Path:
    """Seed 0 keeps the file name of the runs made before seeds were a dimension of the benchmark."""
    return done / (f"{dataset}-{_slug(row)}.json" if seed == 0 else f"{dataset}-{_slug(row)}-s{seed}.json")


def _run(dataset: str, row: str, seed: int, preset: str, data_root: str | None, extra: list[str],
         dp_extra: list[str], threads: int, resample_only: bool, out: Path) -> list[dict[str, Any]]:
    import torch

    from fedkd.paths import expand
    from private_gen.config import load_generation
    from private_gen.evaluation import evaluate
    from private_gen.experiment import load_data, resample, run_generation

    torch.set_num_threads(threads)
    overrides = [*preset_overrides(preset, dataset, [*COMMON, *ROWS[row]], data_root), f"seed={seed}", *extra]
    if "gen_privacy=dp" in overrides and not row.startswith("dp-merf"):
        overrides += dp_extra
    config = load_generation(overrides)
    out = out / dataset / _slug(row)  # this row's run directories
    base = {"dataset": dataset, "row": row, "seed": seed, "samples": config.evaluation.num_samples}
    if row == "real":
        data = load_data(config)
        # a random subset: some sources (the MNIST subset) are stored sorted by class
        pick = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(0))
        pick = pick[: config.evaluation.num_samples]
        return [base | evaluate(config.evaluation, data, data.train_x[pick], data.train_y[pick],
                                config.data.class_conditional, config.seed, expand(config.data_cache))]
    finished = sorted(p for p in out.glob(f"*-s{seed}") if (p / "generator.pt").is_file()
                      and (p / "summary.json").is_file())
    if resample_only and finished and not row.startswith("dp-merf"):
        run, metrics = finished[-1], resample(config, finished[-1])
    else:
        run = run_generation(_resuming(config, out, seed), out)
        metrics = json.loads((run / "summary.json").read_text())
    results = [base | metrics]
    if row in LANGEVIN_OF:
        langevin = load_generation([*overrides, "sampler=langevin"])
        name = row.replace("-mhmc", "-langevin").replace("ssm-hmc", "ssm-langevin")
        results.append(base | {"row": name} | resample(langevin, run))
    if row in UNCORRECTED_OF:
        uncorrected = load_generation([*overrides, "sampler.metropolis=false"])
        results.append(base | {"row": row.replace("-mhmc", "-hmc uncorrected")} | resample(uncorrected, run))
    return results


def _resuming(config: Any, out: Path, seed: int) -> Any:
    """The config that continues this row's newest interrupted run of `seed` from its checkpoints (the same
    overrides make the same config), or `config` itself when there is none or it was made by another config."""
    import dataclasses

    from fedkd.checkpoint.resume import check_resumable, resumable_dir

    interrupted = sorted(out.glob(f"*-s{seed}.incomplete"))
    if not interrupted:
        return config
    try:
        check_resumable(resumable_dir(str(interrupted[-1])), config)
    except UserError as error:
        print(f"not resuming {interrupted[-1].name}: {error}", flush=True)
        return config
    print(f"resuming {interrupted[-1].name}", flush=True)
    return dataclasses.replace(config, resume=str(interrupted[-1]))


def plan_jobs(preset: str, datasets: list[str], rows: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    """(data set, row, seed) in the order they run: every row's first seed first, since it builds the caches
    (pretraining) that the row's other seeds then reuse; `real` once, at seed 0."""
    jobs = [(d, r, seed) for d in datasets for r in rows if runs_on(preset, d, ROWS[r])
            for seed in ([0] if r == "real" else seeds)]
    return sorted(jobs, key=lambda job: job[1] != "real" and job[2] != seeds[0])


def _privacy_cell(privacy: dict[str, Any] | None) -> str:
    if not privacy or privacy.get("epsilon") is None:
        return privacy["guarantee"] if privacy else "–"
    return f"ε={privacy['epsilon']:.2f}, δ={privacy['delta']:g} ({privacy['accountant'].upper()})"


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (data set, row), in first-seen order: mean and std of every metric over its seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["row"]), []).append(r)
    out = []
    for runs in groups.values():
        merged = dict(runs[0]) | {"seeds": len(runs)}
        for key in (*METRICS, "train_seconds", "sample_seconds"):
            values = [r[key] for r in runs if r.get(key) is not None]
            merged[key] = statistics.fmean(values) if values else None
            merged[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
        out.append(merged)
    return out


PRIVACY_FIELDS = ("epsilon", "delta", "accountant", "noise_multiplier", "steps", "pretraining", "guarantee")
CSV_FIELDS = ("dataset", "row", "seed", "samples", *METRICS, *PRIVACY_FIELDS, "train_seconds", "sample_seconds",
              "score_evaluations_per_sample", "metropolis_acceptance")


def read_table_rows(csv_path: Path) -> list[dict[str, Any]]:
    """The per-seed rows of a table written before, in the shape `write_tables` takes (missing file: none)."""
    if not csv_path.is_file():
        return []
    rows = []
    with open(csv_path, newline="") as fh:
        for line in csv.DictReader(fh):
            values: dict[str, Any] = {k: _parse_cell(v) for k, v in line.items() if k not in ("dataset", "row")}
            privacy = {k: values.pop(k) for k in PRIVACY_FIELDS if k in values}
            if privacy.get("epsilon") is None and privacy.get("guarantee") is None and line["row"] != "real":
                privacy["guarantee"] = "none (non-private)"  # tables written before the column existed
            rows.append({"dataset": line["dataset"], "row": line["row"], **values,
                         "privacy": privacy if any(v is not None for v in privacy.values()) else None})
    return rows


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    try:
        return json.loads(text)  # numbers and the acceptance lists
    except json.JSONDecodeError:
        return text


def merge_rows(kept: list[dict[str, Any]], finished: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table's rows: those already in it, each replaced by a finished run of the same (data set, row, seed),
    then the finished runs it did not have. A run whose results folder is gone keeps its row."""
    def key(r: dict[str, Any]) -> tuple[str, str, int]:
        return r["dataset"], r["row"], r["seed"]
    fresh = {key(r): r for r in finished}
    merged = [fresh.pop(key(r), r) for r in kept]
    return merged + list(fresh.values())


def write_tables(rows: list[dict[str, Any]], csv_path: Path, md_path: Path) -> None:
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            privacy = r.get("privacy") or {}
            acceptance = r.get("metropolis_acceptance")
            writer.writerow(r | {k: privacy.get(k) for k in PRIVACY_FIELDS}
                            | {"metropolis_acceptance": None if acceptance is None else json.dumps(acceptance)})
    lines = ["| data | generator | privacy | seeds | samples | Fréchet dist. ↓ | CNN acc. ↑ | logreg acc. ↑ | "
             "train s | sample s | score evals | acceptance |", "|---|---|---|" + "---:|" * 9]
    for r in aggregate(rows):
        def num(key: str, fmt: str, r: dict[str, Any] = r) -> str:
            if r.get(key) is None:
                return "–"
            spread = r.get(f"{key}_std")
            return format(r[key], fmt) + (f" ± {format(spread, fmt)}" if spread is not None else "")
        acceptance = r.get("metropolis_acceptance") or []
        lines.append(f"| {r['dataset']} | {r['row']} | {_privacy_cell(r.get('privacy'))} | {r['seeds']} | "
                     f"{r['samples']} | {num('frechet_distance', '.1f')} | {num('cnn_accuracy', '.3f')} | "
                     f"{num('logreg_accuracy', '.3f')} | {num('train_seconds', '.0f')} | "
                     f"{num('sample_seconds', '.0f')} | {num('score_evaluations_per_sample', 'd')} | "
                     f"{f'{min(acceptance):.2f}–{max(acceptance):.2f}' if acceptance else '–'} |")
    md_path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=list(PRESETS), default="cpu")
    parser.add_argument("--data-root", help="folder of the local data sets a preset reads (gpu: MNIST, FashionMNIST)")
    parser.add_argument("--datasets", nargs="+", help="a subset of the preset's data sets (default: all of them)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--extra", nargs="*", default=[], help="Hydra overrides for every row")
    parser.add_argument("--dp-extra", nargs="*", default=[], help="Hydra overrides for the DP-SGD rows")
    parser.add_argument("--resample", action="store_true",
                        help="re-run the rows, sampling trained score models again instead of retraining")
    parser.add_argument("--tables-only", action="store_true", help="write the tables from the finished rows")
    parser.add_argument("--out", type=Path, help="default: results/gen/<the preset's folder>")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    datasets = args.datasets or list(preset.datasets)
    if unknown := sorted(set(datasets) - set(preset.datasets)):
        parser.error(f"--datasets {' '.join(unknown)}: not in --preset {args.preset} ({', '.join(preset.datasets)})")
    out = args.out or ROOT / "results" / "gen" / preset.results
    try:
        for dataset in datasets:  # a missing --data-root stops here, before any work
            preset_overrides(args.preset, dataset, [], args.data_root)
    except UserError as error:
        parser.error(str(error))
    done = out / "done"
    done.mkdir(parents=True, exist_ok=True)
    jobs = plan_jobs(args.preset, datasets, args.rows, args.seeds)
    todo = [] if args.tables_only else [j for j in jobs if args.resample or not _done_path(done, *j).exists()]
    threads = max(1, 2 // args.workers)
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run, d, r, seed, args.preset, args.data_root, args.extra, args.dp_extra, threads,
                               args.resample, out): (d, r, seed) for d, r, seed in todo}
        for count, future in enumerate(as_completed(futures), 1):
            dataset, row, seed = futures[future]
            results = future.result()
            _done_path(done, dataset, row, seed).write_text(json.dumps(results))
            first = results[0]
            print(f"[{count}/{len(todo)}] {dataset} {row} s{seed}: FD {first['frechet_distance']:.1f} "
                  f"CNN {first.get('cnn_accuracy', float('nan')):.3f} ({time.perf_counter() - started:.0f} s)",
                  flush=True)
    # each table keeps every row it had and every finished row of every seed run so far
    paths = [_done_path(done, d, row, seed) for d in preset.datasets for row in ROWS for seed in range(10)]
    finished = [r for path in paths if path.exists() for r in json.loads(path.read_text())]
    args.docs.mkdir(parents=True, exist_ok=True)
    for table, rows in rows_by_table(args.preset, datasets, finished).items():
        csv_path = args.docs / f"{table}.csv"
        write_tables(merge_rows(read_table_rows(csv_path), rows), csv_path, args.docs / f"{table}.md")
        print((args.docs / f"{table}.md").read_text())


def rows_by_table(preset: str, datasets: list[str], finished: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The finished rows of each table these data sets write (every one of them, also a table with none yet)."""
    tables: dict[str, list[dict[str, Any]]] = {PRESETS[preset].table_of(d): [] for d in datasets}
    for r in finished:
        tables.setdefault(PRESETS[preset].table_of(r["dataset"]), []).append(r)
    return tables


if __name__ == "__main__":
    main()
