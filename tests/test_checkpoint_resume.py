"""Checkpoints and resume: a run stopped (by kill -9 or a signal) and resumed ends with the same metric files as
one never stopped; damaged or foreign checkpoints are refused in one line.

The kill -9 case starts a real `fedkd-sim` subprocess (about 25 s with its resume); the rest run in-process."""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fedkd.app.experiment_config import load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.checkpoint import checkpointer
from fedkd.checkpoint.checkpointer import Checkpointer, checkpoints_dir
from fedkd.checkpoint.client_files import clients_dir, state_file
from fedkd.checkpoint.interrupts import STOP, Interrupted
from fedkd.checkpoint.resume import fingerprint
from fedkd.checkpoint.server_checkpoint import ServerCheckpoint, checkpoint_files, read_checkpoint, write_checkpoint
from fedkd.checkpoint.settings import CheckpointSettings
from fedkd.errors import UserError

TINY = ["dataset=digits", "lowres=none", "partition=iid", "simulation.num_clients=3", "simulation.backend=inprocess",
        "train.local_epochs=1", "strategy=fedckd", "num_rounds=3"]
TIMING = ("seconds",)  # wall-clock columns: the only ones allowed to differ


def _rows(path: Path, name: str) -> list[dict[str, str]]:
    with open(path / name) as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


def _same_metrics(one: Path, other: Path) -> None:
    for name in ("rounds.csv", "clients.csv"):
        assert _rows(one, name) == _rows(other, name), name


def _same_metrics_but_node_ids(one: Path, other: Path) -> None:
    """Under Ray node ids are random per run; every other column must be equal."""
    for name in ("rounds.csv", "clients.csv"):
        assert ([{k: v for k, v in r.items() if k != "node_id"} for r in _rows(one, name)]
                == [{k: v for k, v in r.items() if k != "node_id"} for r in _rows(other, name)]), name


def _stop_after(server_round: int):
    def observe(row) -> None:
        if row["round"] == server_round:
            STOP.signal = signal.SIGTERM
    return observe


def test_a_run_stopped_by_a_signal_resumes_to_the_same_metrics(tmp_path):
    overrides = [*TINY, "simulation.fraction_train=0.67"]
    whole = run_in_process(load_federated(overrides), tmp_path / "whole")
    with pytest.raises(Interrupted, match="after round 1"):
        run_in_process(load_federated(overrides), tmp_path / "stopped", on_round=_stop_after(1))
    STOP.clear()
    [stopped] = (tmp_path / "stopped").iterdir()
    assert stopped.name.endswith(".incomplete") and [r for r, _ in checkpoint_files(checkpoints_dir(stopped))] == [1]
    resumed = run_in_process(load_federated([*overrides, f"resume={stopped}"]), tmp_path / "stopped")
    assert resumed.name == stopped.name.removesuffix(".incomplete")
    _same_metrics(whole, resumed)
    assert not checkpoints_dir(resumed).exists()  # a finished run keeps no checkpoints


def _wait_for(predicate, process: subprocess.Popen, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert process.poll() is None, "fedkd-sim ended before it could be killed"
        assert time.monotonic() < deadline, "fedkd-sim did not get that far in time"
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_mid_round_then_resume_matches_an_uninterrupted_run_with_sample_level_dp(tmp_path):
    """kill -9 while round 2 is half done (one client has trained in it), resume (in-process; the command line's
    `resume=` is checked below), compare every metric file (ε included: no DP step lost or counted twice)."""
    overrides = [*TINY, "num_rounds=2", "simulation.num_clients=2", "privacy=sample", "privacy.noise_multiplier=1.0",
                 "privacy.target_epsilon=null"]
    whole = run_in_process(load_federated(overrides), tmp_path / "whole")
    command = [str(Path(sys.executable).parent / "fedkd-sim"), *overrides, f"output.root={tmp_path / 'killed'}"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def half_way() -> bool:
            runs = list((tmp_path / "killed").glob("*.incomplete"))
            return bool(runs) and state_file(clients_dir(checkpoints_dir(runs[0])), 0, 2).exists()
        _wait_for(half_way, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    [killed] = (tmp_path / "killed").iterdir()
    assert [r for r, _ in checkpoint_files(checkpoints_dir(killed))] == [1]
    resumed = run_in_process(load_federated([*command[1:], f"resume={killed}"]))
    _same_metrics(whole, resumed)
    epsilons = [float(r["dp_epsilon_max"]) for r in _rows(resumed, "rounds.csv")]
    assert epsilons == sorted(epsilons) and epsilons[0] > 0


def _checkpoint() -> ServerCheckpoint:
    # a deployment's strategy holds arrays as memoryviews of gRPC buffers: they are pickled as bytes
    return ServerCheckpoint(3, {"w": np.ones(4)}, {"mu": 0.1, "data": memoryview(b"xy")}, None, [{"round": 3}], {},
                            {})


def test_a_damaged_or_foreign_checkpoint_is_refused_in_one_line(tmp_path):
    path, size = write_checkpoint(tmp_path, "abc", _checkpoint())
    assert read_checkpoint(path, "abc").strategy == {"mu": 0.1, "data": b"xy"} and size > 0
    with pytest.raises(UserError, match="another config"):
        read_checkpoint(path, "other")
    blob = path.read_bytes()
    path.write_bytes(blob[:-5])
    with pytest.raises(UserError, match=r"truncated .* delete round-000003\.ckpt"):
        read_checkpoint(path, "abc")
    path.write_bytes(blob[:-1] + bytes([blob[-1] ^ 0xFF]))
    with pytest.raises(UserError, match="corrupt"):
        read_checkpoint(path, "abc")
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a fedkd checkpoint"):
        read_checkpoint(path, "abc")


def test_resume_refuses_finished_missing_and_checkpointless_runs(tmp_path):
    config = load_federated([*TINY, "num_rounds=1"])
    finished = run_in_process(config, tmp_path)
    for target, message in [(finished, "finished run"), (tmp_path / "nowhere", "no such run directory")]:
        with pytest.raises(UserError, match=message):
            run_in_process(load_federated([*TINY, f"resume={target}"]), tmp_path)
    empty = tmp_path / "x.incomplete"
    (empty / "checkpoints").mkdir(parents=True)
    (empty / "checkpoints" / "resume.json").write_text("{}")
    with pytest.raises(UserError, match="no checkpoint yet"):
        run_in_process(load_federated([*TINY, f"resume={empty}"]), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([finished.name, "x.incomplete"])


def test_the_fingerprint_ignores_only_how_a_run_is_checkpointed():
    base = load_federated(TINY)
    assert fingerprint(base) == fingerprint(load_federated([*TINY, "checkpoint.keep=5", "resume=/some/run"]))
    assert fingerprint(base) != fingerprint(load_federated([*TINY, "train.lr=0.5"]))


def test_the_cli_resume_takes_the_runs_own_overrides_and_refuses_others(tmp_path):
    from fedkd.commands.skeleton import resumed_arguments

    run = tmp_path / "r.incomplete"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "resume.json").write_text(
        '{"command": "fedkd-sim", "overrides": ["strategy=fedckd", "seed=3"], "fingerprint": "abc"}')
    assert resumed_arguments([f"resume={run}", "checkpoint.keep=4"], "fedkd-sim") == [
        "strategy=fedckd", "seed=3", "checkpoint.keep=4", f"resume={run}"]
    with pytest.raises(UserError, match="drop seed=4"):
        resumed_arguments([f"resume={run}", "seed=4"], "fedkd-sim")
    with pytest.raises(UserError, match="is a fedkd-sim run; continue it with: fedkd-sim resume="):
        resumed_arguments([f"resume={run}"], "fedkd-gen")
    assert resumed_arguments(["seed=1"], "fedkd-sim") == ["seed=1"]


def test_the_client_level_accountant_survives_a_checkpoint_round_trip():
    """Its RDP accountant holds module references; a checkpoint rebuilds it from the composed rounds."""
    import pickle

    from fedkd.privacy.client_level import ClientLevelAccountant

    settings = load_federated([*TINY, "privacy=client"]).privacy
    original = ClientLevelAccountant(settings, 10, 5)
    for replies in (5, 5, 3):
        original.record_round(replies)
    copy = pickle.loads(pickle.dumps(original))
    assert copy.epsilon() == original.epsilon() > 0
    assert copy.record_round(4) == original.record_round(4)


@pytest.mark.slow
@pytest.mark.on_demand
def test_a_ray_run_stopped_by_sigterm_resumes_under_ray_to_the_in_process_metrics(tmp_path):
    """Under Ray each client writes its own state file; SIGTERM after round 1's checkpoint, `fedkd-sim resume=`
    under Ray, and every metric equals an uninterrupted in-process run's (about 70 s: left out of the default
    run, `pytest -m on_demand`)."""
    overrides = [*(o for o in TINY if not o.startswith("simulation.backend")), "simulation.fraction_train=0.67",
                 "simulation.backend=ray"]
    whole = run_in_process(load_federated([*overrides, "simulation.backend=inprocess"]), tmp_path / "whole")
    sim = str(Path(sys.executable).parent / "fedkd-sim")
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sim, *overrides, f"output.root={tmp_path / 'ray'}"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def checkpointed() -> bool:
            runs = list((tmp_path / "ray").glob("*.incomplete"))
            return bool(runs) and bool(checkpoint_files(checkpoints_dir(runs[0])))
        _wait_for(checkpointed, process, seconds=240)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err[-2000:]
    [stopped] = (tmp_path / "ray").iterdir()
    resume = subprocess.run([sim, f"resume={stopped}"], env=env, capture_output=True, text=True, timeout=400)
    assert resume.returncode == 0, resume.stderr[-2000:]
    _same_metrics_but_node_ids(whole, stopped.with_name(stopped.name.removesuffix(".incomplete")))


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc): Ray's raylet, GCS and workers outlive a killed driver."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found


@pytest.mark.slow
@pytest.mark.on_demand
def test_kill_9_of_a_ray_run_mid_round_then_resume_under_ray_matches_an_in_process_run(tmp_path):
    """kill -9 of a Ray `fedkd-sim` while round 2 is half done; Ray's own processes are killed by PID after
    it; `fedkd-sim resume=` under Ray ends with the in-process run's metrics (about 70 s, `pytest -m on_demand`)."""
    overrides = [*(o for o in TINY if not o.startswith("simulation.backend")), "simulation.backend=ray"]
    whole = run_in_process(load_federated([*overrides, "simulation.backend=inprocess"]), tmp_path / "whole")
    sim = str(Path(sys.executable).parent / "fedkd-sim")
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sim, *overrides, f"output.root={tmp_path / 'ray'}"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ray_processes: list[int] = []
    try:
        def half_way() -> bool:
            runs = list((tmp_path / "ray").glob("*.incomplete"))
            return bool(runs) and any(state_file(clients_dir(checkpoints_dir(runs[0])), p, 2).exists()
                                      for p in range(3))
        _wait_for(half_way, process, seconds=240)
        ray_processes = _descendants(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        for pid in [process.pid, *ray_processes]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    [killed] = (tmp_path / "ray").iterdir()
    assert [r for r, _ in checkpoint_files(checkpoints_dir(killed))] == [1]
    resume = subprocess.run([sim, f"resume={killed}"], env=env, capture_output=True, text=True, timeout=400)
    assert resume.returncode == 0, resume.stderr[-2000:]
    _same_metrics_but_node_ids(whole, killed.with_name(killed.name.removesuffix(".incomplete")))


def test_a_checkpoint_written_behind_the_next_round_holds_its_own_round(tmp_path):
    """Checkpoints are written on a thread while the next round runs: the file must hold the state at the end of
    its round, even when the strategy object changes right after, and a later round waits for the write."""
    checkpoints = Checkpointer(CheckpointSettings(every=1, keep=2), tmp_path, "abc", num_rounds=5)
    strategy = {"mu": 0.1}
    for server_round in (1, 2):
        checkpoints.end_of_round(server_round, [0], lambda r=server_round: ServerCheckpoint(
            r, {"w": np.full(2, float(r))}, strategy, None, [{"round": r}], {}, {}))
        strategy["mu"] += 1.0  # the next round changes the live strategy
    checkpoints.settle()
    first = read_checkpoint(checkpoints_dir(tmp_path) / "round-000001.ckpt", "abc")
    second = read_checkpoint(checkpoints_dir(tmp_path) / "round-000002.ckpt", "abc")
    assert first.strategy == {"mu": 0.1} and second.strategy == {"mu": 1.1}
    assert first.client_rounds == {0: 1} and second.client_rounds == {0: 2}
    assert checkpoints.finish()["round"] == 2 and not checkpoints_dir(tmp_path).exists()


def test_a_failed_background_write_surfaces_at_the_next_round_unless_the_run_is_failing(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpointer, "write_checkpoint", full)
    checkpoints = Checkpointer(CheckpointSettings(every=1, keep=2), tmp_path, "abc", num_rounds=5)
    make = lambda: ServerCheckpoint(1, {"w": np.ones(2)}, {}, None, [], {}, {})  # noqa: E731
    checkpoints.end_of_round(1, [0], make)
    with pytest.raises(OSError, match="No space left on device"):
        checkpoints.end_of_round(2, [0], make)
    checkpoints.end_of_round(3, [0], make)
    checkpoints.settle(failing=True)  # already failing: waits, and the run's own error is the one reported
