"""ServerApp: run the configured strategy and write the run directory."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp

from fedkd.app.run_config import config_from_context, data_shape_from_context, output_root_from_context
from fedkd.data.federated import prepare_federation
from fedkd.errors import UserError
from fedkd.faces.federated_workload import ensure_teacher, face_loss_columns, uses_face_workload
from fedkd.models.factory import Shape, build_architecture, build_model
from fedkd.paths import expand
from fedkd.privacy.client_level import CLIPPING_KEY, ClientDPSettings
from fedkd.privacy.dp_model import batchnorm_count
from fedkd.privacy.tracking import PrivacyTracker
from fedkd.results.round_metrics import round_row
from fedkd.results.run_dir import RunDirectory
from fedkd.results.summary import summarize
from strategies import build_strategy, logged

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


def run_federation(grid: Grid, config: dict[str, Any], output_root: Path | None = None,
                   shape: Shape | None = None) -> Path:
    """Run all rounds; returns the finished run directory. With `shape` (channels, side, classes) the
    data set is not loaded here: in a deployment the SuperNodes hold it."""
    random.seed(config["seed"])  # Flower samples nodes with `random`
    torch.manual_seed(config["seed"])
    np.random.seed(config["seed"])
    if shape is None:
        prepare_federation(config)
    if uses_face_workload(config):
        _progress("preparing the HR face teacher (trained once, then cached)")
        ensure_teacher(config)
    model = build_model(config, shape)
    _note_dp_model(config, shape)
    _wait_for_nodes(grid, config["simulation"]["num_clients"])

    privacy = PrivacyTracker(config)
    run = RunDirectory(output_root or expand(config["output"]["root"]), config["output"]["name"],
                       face_loss_columns(config) + privacy.client_columns, privacy.round_columns)
    run.write_config(config)
    strategy = build_strategy(config)
    rounds: list[dict[str, Any]] = []
    clock = [time.perf_counter()]

    def end_of_round(server_round: int, _arrays: ArrayRecord) -> MetricRecord | None:
        if server_round == 0:
            return None
        train = getattr(logged(strategy), "last_train", [])
        evaluated = getattr(logged(strategy), "last_evaluate", [])
        for phase, rows in (("train", train), ("evaluate", evaluated)):
            run.append_clients([r | {"round": server_round, "phase": phase, "partition_id": r["partition-id"],
                                     "num_examples": r["num-examples"]} for r in rows])
        now = time.perf_counter()
        row = {"round": server_round, "seconds": round(now - clock[0], 3)} | round_row(train, evaluated)
        row |= privacy.update(train, strategy)
        clock[0] = now
        rounds.append(row)
        run.append_round(row)
        _progress(" | ".join(filter(None, [_round_line(row, config["num_rounds"]), privacy.progress(row)])))
        return None

    client_dp = ClientDPSettings.from_config(config)
    train_config = ConfigRecord({CLIPPING_KEY: client_dp.clipping} if client_dp is not None else {})
    try:
        strategy.start(
            grid=grid, initial_arrays=ArrayRecord(model.state_dict()), num_rounds=config["num_rounds"],
            train_config=train_config, evaluate_config=ConfigRecord(), evaluate_fn=end_of_round,
        )
        summary, table = summarize(config, rounds)
        summary["privacy"] = privacy.report()
        run.write_json("privacy.json", summary["privacy"])
        path = run.finish(summary, table)
    except BaseException as err:
        run.fail(f"{type(err).__name__}: {err}")
        raise
    _progress(table)
    _progress(f"results: {path}")
    return path


def _note_dp_model(config: dict[str, Any], shape: Shape | None) -> None:
    privacy = config.get("privacy", {})
    if privacy.get("mode", "none") == "none":
        return
    replaced = batchnorm_count(build_architecture(config, shape))
    if replaced:
        _progress(f"note: privacy.mode={privacy['mode']}: {replaced} BatchNorm layers of "
                  f"model={config['model']['name']} replaced by GroupNorm "
                  f"(groups = gcd(privacy.norm_groups={privacy['norm_groups']}, channels))")


def _round_line(row: dict[str, Any], num_rounds: int) -> str:
    parts = [f"round {row['round']:>3}/{num_rounds}"]
    if "train_loss" in row:
        parts.append(f"train loss {row['train_loss']:.3f}")
    if "personal_accuracy_client_mean" in row:
        parts.append(f"personal acc {row['personal_accuracy_client_mean']:.3f} "
                     f"± {row['personal_accuracy_client_std']:.3f}")
    if "global_accuracy" in row:
        parts.append(f"global acc {row['global_accuracy']:.3f}")
    parts.append(f"{row['seconds']:.1f} s")
    return " | ".join(parts)


def make_server_app(
    config_source: Callable[[Context], dict[str, Any]] = config_from_context,
    output_root_source: Callable[[Context], Path | None] = output_root_from_context,
) -> ServerApp:
    """The ServerApp; the sources read the config and output folder from the run's Context."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            run_federation(grid, config_source(context), output_root_source(context), data_shape_from_context(context))
        except UserError as err:
            _progress(f"error: {err}")
            raise

    return app


app = make_server_app()
