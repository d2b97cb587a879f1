"""`fedkd-tune`: search a method's hyper-parameters on its clients' validation splits (Optuna).

    fedkd-tune [--trials N] [--workers W] [--out DIR] [--name NAME] [--choice KEY=V1,V2 ...]
               [--sampler tpe|grid] [--pruner median|none] [--no-method-space] [--seed S] OVERRIDES...

OVERRIDES (Hydra, as for fedkd-sim) fix the method, data, partition, rounds and the tuning seed, e.g.
`strategy=fedckd dataset=digits lowres=none seed=100`. The search covers `train.lr` and the method's own
hyper-parameters (declared by its settings class), plus every --choice. Every trial scores the validation split
(the test rows are never read). Writes DIR/journal.log (re-running the same command resumes), DIR/runs/ (one run
directory per trial), DIR/trials.csv and DIR/best.json (the chosen values as overrides). DIR defaults to
results/tuning/NAME; NAME to the strategy name.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fedkd.commands.skeleton import user_errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fedkd-tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=12, help="trial budget (complete + pruned trials)")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the search")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--name")
    parser.add_argument("--choice", action="append", default=[], help="KEY=V1,V2,...: a categorical dimension")
    parser.add_argument("--sampler", choices=("tpe", "grid"), default="tpe")
    parser.add_argument("--pruner", choices=("median", "none"), default="median")
    parser.add_argument("--no-method-space", action="store_true", help="search only the --choice dimensions")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    with user_errors():
        from fedkd.app.experiment_config import load_federated
        from fedkd.errors import UserError
        from fedkd.tuning.space import as_override, parse_choices
        from fedkd.tuning.study import TuningJob, tune

        if args.trials < 1 or args.workers < 1:
            raise UserError(f"--trials={args.trials} --workers={args.workers}: both must be at least 1")
        name = args.name or load_federated(args.overrides).strategy.name
        choices = parse_choices(args.choice)
        for key, space in choices.items():  # every value is checked before the study starts
            for value in space.values:
                load_federated([*args.overrides, as_override(key, value)])
        job = TuningJob(name, tuple(args.overrides), args.out or Path("results") / "tuning" / name, args.trials,
                        args.sampler, args.pruner, args.seed, choices, not args.no_method_space)
        best = tune(job, args.workers)
    print(json.dumps({k: best[k] for k in ("study", "value", "overrides", "complete", "pruned")}, indent=2))
    print(job.folder / "best.json")
