"""Accuracy of the LR face students: resolution × distillation method on the embedded faces.

Usage: python benchmarks/face_distillation_table.py [--workers 2] [--seeds 0 1 2] [--sizes 8 12 16 24]
       [--methods none cckd ...] [--extra key=value ...]

Every (method, LR size, seed) is one `fedkd-faces` experiment (configs/faces.yaml defaults: 200 identities,
150 for training, 50 unseen for verification/identification; the teacher is trained once and cached).
Finished runs are cached under --out (re-running resumes); the script then writes
    <out>/runs.csv                         one row per run
    docs/results/face_distillation.csv     mean and std over seeds per (method, size)
    docs/results/face_distillation.md      the same as a markdown table, with the teacher references
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
METHODS = ("none", "hinton_kd", "feature_kd", "selective_kd", "cckd", "hybrid_order", "hybrid_order_assistant",
           "coupleface", "instance_relation", "relational_contrastive", "bridge", "evolutionary", "route")
METRICS = ("verification_accuracy", "verification_tar@far=0.001", "rank1", "cross_resolution_rank1")


def _run(method: str, size: int, seed: int, extra: list[str], threads: int) -> dict[str, Any]:
    import torch

    from fedkd.face_experiment.config import load_faces
    from fedkd.face_experiment.experiment import run_faces

    torch.set_num_threads(threads)
    overrides = [f"face_method={method}", f"lowres.size={size}", f"seed={seed}", "teacher.train.progress=false",
                 "student.train.progress=false", *extra]
    path = run_faces(load_faces(overrides), ROOT / "results" / "faces" / "bench")
    return json.loads((path / "summary.json").read_text()) | {"method": method, "size": size, "seed": seed}


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def summarise(rows: list[dict[str, Any]], methods: list[str], sizes: list[int]) -> list[dict[str, Any]]:
    table = []
    for size in sizes:
        at_size = [r for r in rows if r["size"] == size]
        if not at_size:
            continue
        ref = {"method": "teacher (HR, 64 px)", "size": size}
        ref_lr = {"method": "teacher on LR (bicubic up)", "size": size}
        for metric in METRICS[:3]:
            ref[metric], ref[f"{metric}_std"] = _mean_std([r[f"teacher_hr_{metric}"] for r in at_size])
            ref_lr[metric], ref_lr[f"{metric}_std"] = _mean_std([r[f"teacher_lr_upsampled_{metric}"] for r in at_size])
        table += [ref, ref_lr]
        for method in methods:
            runs = [r for r in at_size if r["method"] == method]
            if not runs:
                continue
            row: dict[str, Any] = {"method": method, "size": size, "seeds": len(runs),
                                   "parameters": runs[0]["student_parameters"],
                                   "megabytes": round(runs[0]["student_megabytes"], 3),
                                   "seconds": round(statistics.fmean(r["seconds"] for r in runs), 1)}
            for metric in METRICS:
                row[metric], row[f"{metric}_std"] = _mean_std([r[f"student_{metric}"] for r in runs])
            table.append(row)
    return table


def write_markdown(table: list[dict[str, Any]], path: Path) -> None:
    lines = ["| LR px | method | verification acc. | TAR@FAR=1e-3 | rank-1 | cross-res. rank-1 | params | MB | s/run |",
             "|---:|---|---|---|---|---|---:|---:|---:|"]
    for row in table:
        cells = [f"{row[m]:.3f} ± {row[f'{m}_std']:.3f}" if m in row else "–" for m in METRICS]
        lines.append(f"| {row['size']} | {row['method']} | " + " | ".join(cells) +
                     f" | {row.get('parameters', '–')} | {row.get('megabytes', '–')} | {row.get('seconds', '–')} |")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[8, 12, 16, 24])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--extra", nargs="*", default=[], help="extra Hydra overrides for every run")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "faces" / "table")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    done_dir = args.out / "done"
    done_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(m, s, seed) for s in args.sizes for m in args.methods for seed in args.seeds]
    todo = [j for j in jobs if not (done_dir / f"{j[0]}-lr{j[1]}-s{j[2]}.json").exists()]
    # Build the teacher once before the workers start, so they all reuse the cached checkpoint.
    if todo:
        _run(*todo[0], args.extra, threads=2)
    threads = max(1, 2 // args.workers)
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run, *j, args.extra, threads): j for j in todo}
        for count, future in enumerate(as_completed(futures), 1):
            method, size, seed = futures[future]
            result = future.result()
            (done_dir / f"{method}-lr{size}-s{seed}.json").write_text(json.dumps(result))
            print(f"[{count}/{len(todo)}] {method} {size}px seed {seed}: verification "
                  f"{result['student_verification_accuracy']:.3f} ({time.perf_counter() - started:.0f} s)", flush=True)
    rows = [json.loads(p.read_text()) for p in sorted(done_dir.glob("*.json"))]
    rows = [r for r in rows if r["method"] in args.methods and r["size"] in args.sizes and r["seed"] in args.seeds]
    with open(args.out / "runs.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
    table = summarise(rows, args.methods, args.sizes)
    args.docs.mkdir(parents=True, exist_ok=True)
    with open(args.docs / "face_distillation.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in table for k in r)))
        writer.writeheader()
        writer.writerows(table)
    write_markdown(table, args.docs / "face_distillation.md")
    print((args.docs / "face_distillation.md").read_text())


if __name__ == "__main__":
    sys.exit(main())
