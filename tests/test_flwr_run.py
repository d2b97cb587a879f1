"""`flwr run .` (Flower's local SuperLink with its simulation runtime) gives the numbers of an in-process run
of the same seed: FedCKD with client sampling, every column of rounds.csv and clients.csv but the wall-clock
and node-id ones. It needs the Flower CLI and starts a background SuperLink (stopped by PID at the end).
About 45-60 s here, so it is left out of the default run: `pytest -m on_demand`."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedkd.app.experiment_config import load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.deploy.cluster import processes_with_home

ROOT = Path(__file__).resolve().parent.parent
FLWR = Path(sys.executable).parent / "flwr"
OVERRIDES = ["dataset=digits", "lowres=none", "partition=iid", "num_rounds=2", "strategy=fedckd",
             "simulation.num_clients=3", "simulation.fraction_train=0.67", "train.local_epochs=1"]
pytestmark = [pytest.mark.slow, pytest.mark.on_demand,
              pytest.mark.skipif(not FLWR.exists(), reason="the Flower CLI is not installed")]


def _rows(run: Path, name: str) -> list[dict]:
    with open(run / name) as fh:
        return [{k: v for k, v in r.items() if k not in ("seconds", "node_id")} for r in csv.DictReader(fh)]


def _finished_run(root: Path, seconds: float) -> Path:
    """`flwr run --stream` may return before the ServerApp has renamed its run directory into place."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = [p for p in root.glob("*") if p.is_dir() and not p.name.endswith((".incomplete", ".failed"))]
        if done:
            return done[0]
        time.sleep(0.5)
    raise AssertionError(f"no finished run under {root}: {[p.name for p in root.glob('*')]}")


def test_flwr_run_gives_the_numbers_of_an_in_process_run(tmp_path):
    home = tmp_path / "flwr-home"
    env = os.environ | {"PATH": f"{FLWR.parent}{os.pathsep}{os.environ['PATH']}", "FLWR_HOME": str(home),
                        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "FLWR_DISABLE_UPDATE_CHECK": "1",
                        "FLWR_TELEMETRY_ENABLED": "0", "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
                        "FLWR_LOG_LEVEL": "WARNING"}  # as scripts/flwr-env.sh sets them
    flwr_out = tmp_path / "flwr-run"
    try:
        done = subprocess.run([str(FLWR), "run", str(ROOT), "--stream", "--federation-config", "num-supernodes=3",
                               "--run-config", f"overrides='{' '.join(OVERRIDES)}' output-root='{flwr_out}'"],
                              env=env, capture_output=True, text=True, timeout=400)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        flwr_run = _finished_run(flwr_out, 120)
    finally:
        for pid in processes_with_home(home):  # the background SuperLink, its SuperExec and their children
            os.kill(pid, 9)
    in_process = run_in_process(load_federated([*OVERRIDES, f"output.root={tmp_path / 'inprocess'}"]))
    for name in ("rounds.csv", "clients.csv"):
        assert _rows(flwr_run, name) == _rows(in_process, name), name
