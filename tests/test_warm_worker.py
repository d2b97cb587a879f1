"""The warm client worker (fedkd/app/warm_worker.py, client_worker.py): messages round-trip through it, one
worker serves a node's successive messages, a ClientApp error comes back as a traceback, it exits when the
process it watches is gone, and bad node config is one clear error."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from flwr.app import ConfigRecord, Context, Message, RecordDict

from fedkd.app import client_entry
from fedkd.app.ordered_grid import QUERY_PARTITION, reply_partition
from fedkd.app.timing_log import TIMING_LOG
from fedkd.app.warm_worker import WorkerRaised, call_worker, socket_path
from fedkd.errors import UserError


def _context(**node_config) -> Context:
    return Context(run_id=random.getrandbits(62), node_id=random.getrandbits(62),
                   node_config={"partition-id": 2, "client-worker": "warm", "client-worker-idle": 30, **node_config},
                   state=RecordDict(), run_config={})


def _message(kind: str, content: RecordDict) -> Message:
    return Message(content=content, dst_node_id=7, message_type=kind)


def _query() -> Message:
    return _message("query", RecordDict({QUERY_PARTITION: ConfigRecord()}))


def _worker_pids(log) -> set[int]:
    return {e["pid"] for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "worker_start"}


def _stop(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def test_one_warm_worker_answers_a_nodes_messages_and_returns_client_errors_as_tracebacks(tmp_path, monkeypatch):
    log = tmp_path / "timing.jsonl"
    monkeypatch.setenv(TIMING_LOG, str(log))
    context = _context()
    pids: set[int] = set()
    try:
        for _ in range(2):
            reply = client_entry.app(_query(), context)
            assert reply_partition(reply) == 2  # the node's partition id, answered by fedkd's ClientApp
        pids = _worker_pids(log)
        assert len(pids) == 1 and os.getpid() not in pids  # one worker process served both messages
        assert socket_path(context).is_socket()
        with pytest.raises(WorkerRaised, match="Traceback"):  # fedkd's client cannot train without a run config
            call_worker(_message("train", RecordDict()), context)
        assert reply_partition(client_entry.app(_query(), context)) == 2  # the worker outlived the error
        assert _worker_pids(log) == pids
    finally:
        _stop(pids or _worker_pids(log))


def test_the_worker_exits_and_removes_its_socket_when_the_watched_process_is_gone(tmp_path):
    watched = subprocess.Popen(["sleep", "60"])
    path = tmp_path / "w.sock"
    worker = subprocess.Popen([sys.executable, "-m", "fedkd.app.client_worker", "--socket", str(path),
                               "--watch-pid", str(watched.pid), "--idle", "60"])
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.is_socket()
        watched.kill()
        watched.wait()
        assert worker.wait(timeout=10) == 0
        assert not path.exists()
    finally:
        watched.kill()
        worker.kill()


@pytest.mark.parametrize(("node_config", "error"), [
    ({"client-worker": "lukewarm"}, "client-worker=lukewarm is invalid; allowed: warm | per-message"),
    ({"client-worker-idle": "0"}, "client-worker-idle=0 is invalid; allowed: seconds > 0")])
def test_bad_client_worker_node_config_is_one_clear_error(node_config, error):
    with pytest.raises(UserError, match=error):
        client_entry.app(_query(), _context(**node_config))


def test_without_client_worker_the_clientapp_answers_in_its_own_process(tmp_path, monkeypatch):
    log = tmp_path / "timing.jsonl"
    monkeypatch.setenv(TIMING_LOG, str(log))
    context = _context()
    del context.node_config["client-worker"]
    assert reply_partition(client_entry.app(_query(), context)) == 2
    assert _worker_pids(log) == set() and not socket_path(context).exists()
