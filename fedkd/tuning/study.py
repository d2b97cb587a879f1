"""Tune one method on its clients' validation splits with Optuna (Akiba et al., "Optuna: A Next-generation
Hyperparameter Optimization Framework", KDD 2019): TPE or grid sampling, median pruning on the personal
validation accuracy of every evaluated round, a journal file as storage so that a killed search resumes where
it stopped, and several worker processes sharing that journal.

Every trial is a federated run (in-process runtime) with `simulation.evaluate_split=validation` forced: the
data layer then never reads a client's test rows (fedkd/data/federated.py), so no tuning decision can see them.
The objective is the final evaluated round's `personal_accuracy_client_mean` on validation.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from fedkd.app.experiment_config import FederatedConfig, load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.config.search_space import Space
from fedkd.errors import UserError
from fedkd.tuning.space import as_override, grid_of, search_space, suggest

FORCED = ("simulation.evaluate_split=validation", "simulation.backend=inprocess")
RESERVED = ("simulation.evaluate_split", "simulation.backend", "output.name", "output.root")
OBJECTIVE = "personal_accuracy_client_mean"
SAMPLERS = ("tpe", "grid")
PRUNERS = ("median", "none")
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)  # what uses up the trial budget


@dataclass(frozen=True)
class TuningJob:
    """One search: `overrides` fix the method, data, partition, rounds and the tuning seed; `folder` gets
    journal.log, runs/, trials.csv and best.json."""

    name: str
    overrides: tuple[str, ...]
    folder: Path
    trials: int
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    extra: dict[str, Space] = field(default_factory=dict)
    method_space: bool = True

    def config(self, chosen: tuple[str, ...] = ()) -> FederatedConfig:
        taken = [o for o in self.overrides if o.lstrip("+~").split("=")[0] in RESERVED and o not in FORCED]
        if taken:
            raise UserError(f"{taken[0]} cannot be set for tuning; the tuner scores the validation split in-process "
                            "and names its runs itself")
        config = load_federated([*(o for o in self.overrides if o not in FORCED), *FORCED, *chosen])
        if config.simulation.evaluate_split != "validation":  # the guarantee the comparison rests on
            raise RuntimeError("a tuning run must evaluate on the validation split")
        return config

    def space(self) -> dict[str, Space]:
        config = self.config()
        return search_space(config, self.extra) if self.method_space else dict(self.extra)

    def storage(self) -> JournalStorage:
        self.folder.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(self.folder / "journal.log")))


def _sampler(job: TuningJob, worker: int) -> optuna.samplers.BaseSampler:
    if job.sampler == "grid":
        return optuna.samplers.GridSampler(grid_of(job.space()), seed=job.seed)
    return optuna.samplers.TPESampler(seed=job.seed * 1000 + worker, n_startup_trials=max(2, job.trials // 3))


def _pruner(job: TuningJob, num_rounds: int) -> optuna.pruners.BasePruner:
    if job.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=max(1, num_rounds // 3))


def _study(job: TuningJob, worker: int) -> optuna.Study:
    num_rounds = job.config().num_rounds
    return optuna.create_study(study_name=job.name, storage=job.storage(), direction="maximize",
                               sampler=_sampler(job, worker), pruner=_pruner(job, num_rounds), load_if_exists=True)


def _objective(job: TuningJob, space: dict[str, Space]):
    def objective(trial: optuna.Trial) -> float:
        chosen = {key: suggest(trial, key, s) for key, s in space.items()}
        overrides = (*(as_override(k, v) for k, v in chosen.items()), f"output.name=trial{trial.number:03d}")
        config = job.config(overrides)

        def report(row: dict[str, Any]) -> None:
            if OBJECTIVE in row:
                trial.report(float(row[OBJECTIVE]), int(row["round"]))
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at round {row['round']}: {row[OBJECTIVE]:.3f}")

        path = run_in_process(config, job.folder / "runs", on_round=report)
        trial.set_user_attr("run_dir", str(path))
        return float(json.loads((path / "summary.json").read_text())["final"][OBJECTIVE])

    return objective


def _progress(job: TuningJob):
    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = sum(t.state in COUNTED for t in study.get_trials(deepcopy=False))
        value = "pruned" if trial.state == TrialState.PRUNED else f"{trial.value:.3f}" if trial.value is not None \
            else trial.state.name.lower()
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() if trial.datetime_complete else 0
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        print(f"[{job.name}] trial {trial.number} ({done}/{job.trials}): {value} ({params}; {seconds:.0f} s)",
              file=sys.stderr, flush=True)

    return callback


def _work(job: TuningJob, worker: int, trials: int) -> None:
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _study(job, worker)
    study.optimize(_objective(job, job.space()), n_trials=trials, callbacks=[_progress(job)])


def _fail_stale(study: optuna.Study) -> None:
    """Trials left RUNNING by a killed process are marked failed; they do not count towards the budget."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)


def tune(job: TuningJob, workers: int = 1) -> dict[str, Any]:
    """Run (or finish) the search; writes trials.csv and best.json into `job.folder` and returns best.json."""
    if job.sampler not in SAMPLERS or job.pruner not in PRUNERS:
        raise UserError(f"sampler={job.sampler} / pruner={job.pruner}; allowed: {SAMPLERS} / {PRUNERS}")
    space = job.space()
    if not space:
        raise UserError(f"{job.name}: nothing to search (no method space and no --choice)")
    study = _study(job, 0)
    _fail_stale(study)
    remaining = job.trials - sum(t.state in COUNTED for t in study.get_trials(deepcopy=False))
    if job.sampler == "grid":
        remaining = min(remaining, math.prod(len(v) for v in grid_of(space).values())
                        - sum(t.state in COUNTED for t in study.get_trials(deepcopy=False)))
    shares = [remaining // workers + (i < remaining % workers) for i in range(workers)] if remaining > 0 else []
    shares = [s for s in shares if s > 0]
    if len(shares) == 1:
        _work(job, 0, shares[0])
    elif shares:
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=_work, args=(job, i, n)) for i, n in enumerate(shares)]
        for p in processes:
            p.start()
        for p in processes:
            p.join()
        failed = [p.exitcode for p in processes if p.exitcode]
        if failed:
            raise RuntimeError(f"{job.name}: a tuning worker exited with code {failed[0]}; see its output above")
    return write_results(job, optuna.load_study(study_name=job.name, storage=job.storage()), space)


def write_results(job: TuningJob, study: optuna.Study, space: dict[str, Space]) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    keys = list(space)
    with open(job.folder / "trials.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["number", "state", "value", "last_round", *keys, "seconds", "run_dir"])
        for t in trials:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else ""
            last = max(t.intermediate_values, default="")
            writer.writerow([t.number, t.state.name, "" if t.value is None else t.value, last,
                             *(t.params.get(k, "") for k in keys), seconds, t.user_attrs.get("run_dir", "")])
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"{job.name}: no trial completed; see {job.folder / 'trials.csv'}")
    best = max(complete, key=lambda t: (t.value, -t.number))
    result = {
        "study": job.name, "objective": f"final-round {OBJECTIVE} on the validation split", "value": best.value,
        "trial": best.number, "params": best.params,
        "overrides": [as_override(k, v) for k, v in best.params.items()],
        "base_overrides": list(job.overrides), "space": {k: repr(v) for k, v in space.items()},
        "budget": job.trials, "complete": len(complete), "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials), "sampler": job.sampler, "pruner": job.pruner,
        "seconds": sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials
                       if t.datetime_complete and t.state in COUNTED),  # failed (e.g. killed) trials left out
    }
    tmp = job.folder / "best.json.tmp"
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(job.folder / "best.json")
    return result
