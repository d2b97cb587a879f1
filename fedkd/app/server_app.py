"""ServerApp: run the configured strategy and write the run directory."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp

from fedkd.app.experiment_config import FederatedConfig
from fedkd.app.guarded_grid import GuardedGrid
from fedkd.app.node_sampling import seeded_node_sampling
from fedkd.app.round_loop import run_rounds
from fedkd.app.run_audit import federated_audit, federated_scorer
from fedkd.app.run_config import config_from_context, data_shape_from_context, output_root_from_context
from fedkd.app.strategy_factory import build_strategy
from fedkd.audit.report import audit_lines
from fedkd.checkpoint.checkpointer import Checkpointer
from fedkd.checkpoint.resume import fingerprint, latest_checkpoint, resumable_dir, write_resume_file
from fedkd.checkpoint.server_checkpoint import ServerCheckpoint, restore_rng_states, rng_states
from fedkd.config.compose import overrides_from_run_config
from fedkd.data.federated import data_shape, prepare_federation
from fedkd.data.image_data import DataShape
from fedkd.errors import UserError
from fedkd.privacy.client_level import ClientDPSettings
from fedkd.privacy.dp_model import batchnorm_count
from fedkd.privacy.sample_level import SampleDPSettings
from fedkd.privacy.settings import DPSettings
from fedkd.privacy.tracking import PrivacyTracker
from fedkd.protocol.instructions import DP_CLIPPING
from fedkd.protocol.reply import GLOBAL_PREFIX
from fedkd.results.curves import draw_run_curves
from fedkd.results.federated_log import FederatedLog, outcome_counts
from fedkd.results.round_metrics import round_row
from fedkd.results.run_dir import RunDirectory, write_run
from fedkd.results.summary import summarize
from strategies.client_log import logged

NODE_WAIT_SECONDS = 60.0


def _wait_for_nodes(grid: Grid, expected: int) -> None:
    """Fail with a clear line when the federation's size differs from simulation.num_clients."""
    deadline = time.monotonic() + NODE_WAIT_SECONDS
    while True:
        found = len(list(grid.get_node_ids()))
        if found == expected:
            return
        if found > expected or time.monotonic() > deadline:
            raise UserError(
                f"simulation.num_clients={expected} but the federation has {found} SuperNodes; "
                f"start {expected} (flwr run: --federation-config \"num-supernodes={expected}\")"
            )
        time.sleep(0.5)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def prepare_server(config: FederatedConfig, shape: DataShape | None = None, announce: bool = True) -> DataShape:
    """Load (or build) the data and whatever the workload needs before round 1; returns the data shape.
    With `shape` given (a deployment whose SuperNodes hold the data) the data set is not loaded here."""
    spec = config.federation()
    if shape is None:
        prepare_federation(spec)
        shape = data_shape(spec)
    if config.workload.preparation and announce:
        _progress(f"preparing {config.workload.preparation}")
    config.workload.prepare_server(spec)
    return shape


RoundObserver = Callable[[Mapping[str, Any]], None]  # sees each round's row; may raise to stop the run


def serve(grid: Grid, config: FederatedConfig, output_root: Path | None = None,
          shape: DataShape | None = None, prepared: bool = False, on_round: RoundObserver | None = None,
          overrides: list[str] | None = None) -> Path:
    """Prepare (unless `prepared`, then `shape` is the prepared data's), check the federation's size, then run
    all rounds into a new run directory (or, with `config.resume`, on in the interrupted one); returns it.
    `on_round` sees every round's row of rounds.csv; `overrides` (the command line's) go into the run's
    resume file."""
    existing = resumable_dir(config.resume) if config.resume else None
    resumed = latest_checkpoint(existing, config) if existing is not None else None
    shape = shape if prepared and shape is not None else prepare_server(config, shape)
    _wait_for_nodes(grid, config.simulation.num_clients)

    def work(run: RunDirectory) -> tuple[Mapping[str, Any], str]:
        if resumed is None and config.checkpoint.enabled:
            write_resume_file(run.path, "fedkd-sim", list(overrides or []), config)
        return run_federation(grid, config, run, shape, on_round, resumed)

    path = write_run(config, config.output, work, output_root, existing)
    _progress(f"results: {path}")
    return path


def run_federation(grid: Grid, config: FederatedConfig, run: RunDirectory, shape: DataShape,
                   on_round: RoundObserver | None = None, resumed: ServerCheckpoint | None = None
                   ) -> tuple[Mapping[str, Any], str]:
    """Run all rounds (after `resumed`'s, when given), writing rounds.csv, clients.csv and privacy.json into
    `run`; returns the summary."""
    sampling = seeded_node_sampling(config.seed)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    # Prepared before already (this call hits the caches); loading the workload's cached parts (the face
    # teacher) between the seeds and the model keeps the initial weights of every earlier run, seed for seed.
    prepare_server(config, shape, announce=False)
    model = config.new_model(shape)
    _note_dp_model(config, shape)
    sim = config.simulation
    privacy = PrivacyTracker(config.privacy, sim.num_clients, sim.train_clients_per_round(),
                             _planned_participations(config))
    entry = config.method()
    score_keys = config.workload.score_keys()
    log = FederatedLog(run, entry.passes, (*entry.loss_terms, *config.workload.loss_terms()),
                       privacy.client_columns, privacy.round_columns, score_keys, entry.metrics,
                       resumed.log_sizes if resumed else None)
    strategy = build_strategy(config)
    arrays = ArrayRecord(model.state_dict())
    rounds: list[dict[str, Any]] = []
    if resumed is not None:
        strategy, privacy, rounds = resumed.strategy, resumed.privacy, list(resumed.rounds)
        arrays = ArrayRecord({k: torch.from_numpy(v) for k, v in resumed.arrays.items()})
        restore_rng_states(resumed.rng, sampling)
        _progress(f"resuming {run.final_path.name} after round {resumed.server_round} of {config.num_rounds}")
    checkpoints = Checkpointer(config.checkpoint, run.path, fingerprint(config), config.num_rounds, resumed)
    scorer = federated_scorer(config, shape)
    guarded = GuardedGrid(grid, sim, config.seed, run.path)
    guarded.discover()
    clock = [time.perf_counter()]

    def end_of_round(server_round: int, arrays: ArrayRecord) -> None:
        train = getattr(logged(strategy), "last_train", [])
        evaluated = getattr(logged(strategy), "last_evaluate", [])
        log.append_clients(server_round, "train", train)
        log.append_clients(server_round, "evaluate", evaluated)
        log.append_outcomes(guarded.outcomes)
        for outcome in guarded.outcomes:
            _progress(f"round {server_round}: client {outcome['partition_id']} {outcome['status']} "
                      f"({outcome['phase']}): {outcome['reason']}")
        now = time.perf_counter()
        row = {"round": server_round, "seconds": round(now - clock[0], 3)} | round_row(train, evaluated, score_keys,
                                                                                log.loss_terms)
        if evaluated and score_keys:
            row |= _global_scores(config, shape, arrays)
        row |= outcome_counts(guarded.outcomes) | privacy.update(train, strategy)
        clock[0] = now
        rounds.append(row)
        log.append_round(row)
        _progress(" | ".join(filter(None, [_round_line(row, config.num_rounds), privacy.progress(row)])))
        if on_round is not None:
            on_round(row)
        executed = set(guarded.executed)
        guarded.start_round()
        checkpoints.end_of_round(server_round, executed, lambda: ServerCheckpoint(
            server_round, {k: v.numpy() for k, v in arrays.items()}, strategy, privacy, list(rounds), log.sizes(),
            rng_states(sampling)))

    client_dp = config.privacy if isinstance(config.privacy, ClientDPSettings) else None
    instructions = checkpoints.instructions()
    train_config = ConfigRecord(({DP_CLIPPING: client_dp.clipping} if client_dp is not None else {}) | instructions)
    try:
        run_rounds(strategy, guarded, arrays, (resumed.server_round if resumed else 0) + 1, config.num_rounds,
                   train_config, ConfigRecord(instructions), end_of_round,
                   on_train_replies=None if scorer is None else scorer.observe)
    except BaseException:
        checkpoints.settle(failing=True)  # a checkpoint still being written lands before the run is marked failed
        raise
    summary, table = summarize({"dataset": config.dataset.name, "strategy": config.strategy.name,
                                "partition": config.partition.name, "num_clients": sim.num_clients,
                                "num_rounds": config.num_rounds, "seed": config.seed,
                                "evaluate_split": sim.evaluate_split}, rounds)
    summary["privacy"] = privacy.report()
    summary["checkpoint"] = checkpoints.finish()
    run.write_json("privacy.json", summary["privacy"])
    if scorer is not None:
        report = federated_audit(config, scorer)
        run.write_json("audit.json", report)
        summary["audit"] = audit_lines(report)
        for line in summary["audit"]:
            _progress(line)
    draw_run_curves(rounds, run.path / "curves", f"{config.strategy.name} on {config.dataset.name}, "
                    f"{config.partition.name}, seed {config.seed}")
    _progress(table)
    return summary, table


def _global_scores(config: FederatedConfig, shape: DataShape, arrays: ArrayRecord) -> dict[str, float]:
    """The workload's scores of the server's model as it is after this round's aggregation."""
    model = config.new_model(shape)
    model.load_state_dict(arrays.to_torch_state_dict())
    return {f"{GLOBAL_PREFIX}{k}": v for k, v in config.workload.score(config.federation(), model).items()}


def _planned_participations(config: FederatedConfig) -> int | None:
    if not isinstance(config.privacy, SampleDPSettings):
        return None
    return config.privacy.planned(config.num_rounds, config.simulation.fraction_train)


def _note_dp_model(config: FederatedConfig, shape: DataShape) -> None:
    privacy = config.privacy
    if not isinstance(privacy, DPSettings):
        return
    replaced = batchnorm_count(config.model.build(shape))
    if replaced:
        _progress(f"note: privacy.mode={privacy.mode}: {replaced} BatchNorm layers of "
                  f"model={config.model.name} replaced by GroupNorm "
                  f"(groups = gcd(privacy.norm_groups={privacy.norm_groups}, channels))")


def _round_line(row: dict[str, Any], num_rounds: int) -> str:
    parts = [f"round {row['round']:>3}/{num_rounds}"]
    if "train_loss" in row:
        parts.append(f"train loss {row['train_loss']:.3f}")
    if "personal_accuracy_client_mean" in row:
        parts.append(f"personal acc {row['personal_accuracy_client_mean']:.3f} "
                     f"± {row['personal_accuracy_client_std']:.3f}")
    if "global_accuracy" in row:
        parts.append(f"global acc {row['global_accuracy']:.3f}")
    if "personal_verification_accuracy_client_mean" in row:
        parts.append(f"verification personal {row['personal_verification_accuracy_client_mean']:.3f} "
                     f"global {row['global_verification_accuracy']:.3f}")
    parts.append(f"{row['seconds']:.1f} s")
    return " | ".join(parts)


def make_server_app(
    config_source: Callable[[Context], FederatedConfig] = config_from_context,
    output_root_source: Callable[[Context], Path | None] = output_root_from_context,
) -> ServerApp:
    """The ServerApp; the sources read the config and output folder from the run's Context."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            serve(grid, config_source(context), output_root_source(context), data_shape_from_context(context),
                  overrides=overrides_from_run_config(context.run_config))
        except UserError as err:
            _progress(f"error: {err}")
            raise

    return app


app = make_server_app()
