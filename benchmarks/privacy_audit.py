"""The measured audit table (docs/privacy.md#auditing): each row's claimed ε against its one-run lower bound.

Usage: python benchmarks/privacy_audit.py [--out results/audit] [--seeds 0] [--only federated|generator]
       [--rows 'gen-ssmvr-*' ...]

Federated rows: the privacy example's set-up (digits, 5 clients, 10 rounds, in-process), client 0 audited with
5000 gradient canaries (and 60 input canaries for FedAvg), FedAvg and FedCKD non-private and under sample-level
DP-SGD at ε ∈ {1, 4, 8}, and the broken control (σ = 0 while ε is claimed) at ε = 1 and 4. Generator rows (digits,
DSM): non-private, DP-SGD at ε = 10 and 1 and their broken controls with 5000 gradient canaries. Image canaries
(200, in a 200-image private split trained 300 epochs, where the model memorises single records): DSM non-private,
at ε = 10 and 1 and the broken control; SSM-VR non-private and under projection perturbation (the defaults, four
times the noise, and clipping that never binds); plain SSM non-private and under projection perturbation. A row whose
run directory holds an audit.json is not run again. Prints a markdown table and writes audit_table.csv; plot
with `fedkd-plot privacy-audit OUT`.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import statistics
import time
from pathlib import Path

from fedkd.app.experiment_config import load_federated
from fedkd.app.inprocess import run_in_process
from private_gen.config import load_generation
from private_gen.experiment import run_generation

COMMON = ["dataset=digits", "lowres=none", "simulation.num_clients=5", "num_rounds=10", "train.lr=0.003",
          "simulation.backend=inprocess", "audit.enabled=true"]
GEN = ["dataset=digits", "generator.train.progress=false", "audit.enabled=true"]


def federated_rows() -> list[tuple[str, list[str]]]:
    rows = [(f"{s}-nonprivate", [f"strategy={s}"]) for s in ("fedavg", "fedckd")]
    rows += [(f"{s}-eps{e}", [f"strategy={s}", "privacy=sample", f"privacy.target_epsilon={e}"])
             for s in ("fedavg", "fedckd") for e in (1, 4, 8)]
    rows += [(f"fedavg-broken-eps{e}", ["strategy=fedavg", "privacy=sample", f"privacy.target_epsilon={e}",
                                        "audit.break_dp=no_noise"]) for e in (1, 4)]
    rows += [(f"fedavg-input-{p}", ["strategy=fedavg", "audit.canary=input", "audit.num_canaries=60", *extra])
             for p, extra in (("nonprivate", []), ("eps8", ["privacy=sample", "privacy.target_epsilon=8"]))]
    return rows


def generator_rows() -> list[tuple[str, list[str]]]:
    dsm, dp = ["generator.objective.kind=dsm"], ["gen_privacy=dp", "gen_privacy.target_epsilon=10",
                                                 "generator.train.batch_size=256"]
    # image canaries in a set-up where a single record is memorised: 200 private images and 200 canaries
    # (about 100 included), 300 epochs; DP-SGD at batch 64
    image = ["audit.canary=input", "audit.num_canaries=200", "data.max_train=200", "generator.train.epochs=300"]
    dp_image = ["gen_privacy=dp", "generator.train.batch_size=64"]
    projection, ssm = ["gen_privacy=projection_perturbation"], ["generator.objective.kind=ssm"]
    return [("gen-dsm-nonprivate", dsm), ("gen-dsm-eps10", [*dsm, *dp]),
            ("gen-dsm-broken-eps10", [*dsm, *dp, "audit.break_dp=no_noise"]),
            ("gen-dsm-eps1", [*dsm, *dp, "gen_privacy.target_epsilon=1"]),
            ("gen-dsm-broken-eps1", [*dsm, *dp, "gen_privacy.target_epsilon=1", "audit.break_dp=no_noise"]),
            ("gen-dsm-nonprivate-image200", [*dsm, *image]),
            ("gen-dsm-eps10-image200", [*dsm, *image, *dp_image, "gen_privacy.target_epsilon=10"]),
            ("gen-dsm-eps1-image200", [*dsm, *image, *dp_image, "gen_privacy.target_epsilon=1"]),
            ("gen-dsm-broken-eps1-image200", [*dsm, *image, *dp_image, "gen_privacy.target_epsilon=1",
                                              "audit.break_dp=no_noise"]),
            ("gen-ssmvr-nonprivate-image200", image),
            ("gen-ssmvr-projection-image200", [*image, *projection]),
            # the mechanism's two knobs: four times the noise, and clipping that never binds
            ("gen-ssmvr-projection-nm4-image200", [*image, *projection, "gen_privacy.noise_multiplier=4"]),
            ("gen-ssmvr-projection-noclip-image200", [*image, *projection, "gen_privacy.clip=1000000.0"]),
            # plain SSM, whose loss is quadratic in vᵀs, so the projection noise does reach the gradient
            ("gen-ssm-nonprivate-image200", [*ssm, *image]),
            ("gen-ssm-projection-image200", [*ssm, *image, *projection])]


def run_row(kind: str, name: str, overrides: list[str], seed: int, out: Path) -> Path:
    root = out / f"{name}-s{seed}"
    done = sorted(p.parent for p in root.glob("*/audit.json"))
    if done:
        return done[-1]
    started = time.perf_counter()
    if kind == "federated":
        path = run_in_process(load_federated([*COMMON, *overrides, f"seed={seed}"]), output_root=root)
    else:
        path = run_generation(load_generation([*GEN, *overrides, f"seed={seed}"]), root)
    print(f"{name} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return path


def table_row(name: str, seed: int, path: Path) -> dict[str, object]:
    report = json.loads((path / "audit.json").read_text())
    entry = report["clients"][0]
    claimed = entry["claimed_epsilon"]
    return {"row": name, "seed": seed, "method": report["method"], "mode": report["mode"],
            "canary": f"{report['num_canaries']} {report['canary']}",
            "claimed_epsilon": "none" if claimed is None else f"{claimed:.2f}", "delta": report["delta"],
            "correct": f"{entry['correct_guesses']}/{entry['num_guesses']}",
            "lower_bound": f"{entry['epsilon_lower_bound']:.2f}", "ceiling": f"{entry['ceiling']:.2f}",
            "leak_shown": entry["leak_shown"], **sample_quality(path)}


def sample_quality(path: Path) -> dict[str, str]:
    """A generator run's sample quality and, under projection perturbation, the share of statistics clipped:
    what the mechanism costs beside what it hides. Empty for federated runs."""
    if not (path / "summary.json").exists() or "frechet_distance" not in (summary := json.loads(
            (path / "summary.json").read_text())):
        return {"frechet": "", "cnn_accuracy": "", "clipped": ""}
    clipped = summary["privacy"].get("clipped_fraction") or {}
    return {"frechet": f"{summary['frechet_distance']:.2f}",
            "cnn_accuracy": f"{summary['cnn_accuracy']:.3f}" if "cnn_accuracy" in summary else "",
            "clipped": " ".join(f"{k} {v:.2f}" for k, v in clipped.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/audit"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", choices=("federated", "generator"))
    parser.add_argument("--rows", nargs="+", default=["*"], metavar="PATTERN",
                        help="run only the rows whose name matches one of these shell patterns")
    args = parser.parse_args()
    plan = [("federated", r) for r in federated_rows()] + [("generator", r) for r in generator_rows()]
    names = [name for _, (name, _) in plan]
    plan = [(kind, row) for kind, row in plan if any(fnmatch.fnmatchcase(row[0], p) for p in args.rows)]
    if not plan:
        parser.error(f"--rows {' '.join(args.rows)} matches no row; pick from: {', '.join(names)}")
    rows = [table_row(name, seed, run_row(kind, name, overrides, seed, args.out))
            for kind, (name, overrides) in plan if args.only in (None, kind) for seed in args.seeds]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "audit_table.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    print_seed_means(rows)


def print_seed_means(rows: list[dict[str, object]]) -> None:
    """One line per row name: the bound's mean ± std over the seeds run, the leaks shown and the ceiling."""
    print("\n| row | mode | claimed ε | lower bound (mean ± std) | seeds | leak shown | ceiling |\n"
          "|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["row"] for r in rows):
        mine = [r for r in rows if r["row"] == name]
        bounds = [float(r["lower_bound"]) for r in mine]
        print(f"| {name} | {mine[0]['mode']} | {mine[0]['claimed_epsilon']} | {statistics.mean(bounds):.2f} ± "
              f"{statistics.pstdev(bounds):.2f} | {len(mine)} | {sum(bool(r['leak_shown']) for r in mine)}/"
              f"{len(mine)} | {mine[0]['ceiling']} |")


if __name__ == "__main__":
    main()
