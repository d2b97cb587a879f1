"""The ClientApp side of a node's warm worker: find it, start it if it is not running, hand it a message.

Flower 1.41 runs every message in a new `flwr-clientapp` process, which would import torch and fedkd, load
the partition and pay torch's first-step costs again each time (docs/deployment.md, "What a deployed round
costs"). With `client-worker="warm"` in a SuperNode's node config, the ClientApp process stays light and
passes the message to one long-lived fedkd process per node and run (client_worker.py), which keeps torch,
the data and the teachers' outputs loaded. The worker listens on a Unix socket only its user can reach; it
exits when the SuperNode process is gone or after `client-worker-idle` seconds without a message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from flwr.app import Context, Message

import fedkd
from fedkd.app import worker_wire as wire
from fedkd.errors import UserError
from fedkd.protocol.run_config import CLIENT_WORKER_IDLE

START_TIMEOUT = 120.0      # seconds for a new worker to import torch and fedkd and listen
DEFAULT_IDLE = 600.0


class WorkerRaised(RuntimeError):
    """fedkd's ClientApp raised inside the warm worker; the message is the worker's traceback."""


def socket_path(context: Context) -> Path:
    folder = Path(tempfile.gettempdir()) / f"fedkd-workers-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"node-{context.node_id}-run-{context.run_id}.sock"


def call_worker(msg: Message, context: Context) -> Message:
    """The reply of fedkd's ClientApp to `msg`, computed by the node's warm worker; `context.state` is updated
    in place, as Flower expects of a ClientApp."""
    with _connection(context) as sock:
        wire.send_parts(sock, wire.message_bytes(msg), wire.context_bytes(context))
        status = wire.read_part(sock)
        if status == wire.RAISED:
            raise WorkerRaised(wire.read_part(sock).decode())
        reply = wire.message_of(wire.read_part(sock))
        context.state = wire.context_of(wire.read_part(sock)).state
    return reply


@contextlib.contextmanager
def _connection(context: Context) -> Iterator[socket.socket]:
    path = socket_path(context)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one ClientApp process starts the worker; the others wait for it
        sock = _connect(path)
        if sock is None:
            sock = _start(path, _idle_seconds(context))
    with sock:
        yield sock


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def _idle_seconds(context: Context) -> float:
    text = str(context.node_config.get(CLIENT_WORKER_IDLE, DEFAULT_IDLE))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise UserError(f"{CLIENT_WORKER_IDLE}={text} is invalid; allowed: seconds > 0 (node config)")
    return seconds


def _start(path: Path, idle_seconds: float) -> socket.socket:
    """A new worker for this node and run, watching the SuperNode side process that started this ClientApp."""
    path.unlink(missing_ok=True)
    log = path.with_suffix(".log")
    package_root = str(Path(fedkd.__file__).resolve().parent.parent)  # the run's code, as Flower loaded it
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "fedkd.app.client_worker", "--socket", str(path), "--watch-pid",
             str(os.getppid()), "--idle", str(idle_seconds)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        if worker.poll() is not None:
            raise RuntimeError(f"the warm client worker exited at start (code {worker.returncode}): "
                               f"{log.read_text()[-2000:]}")
        time.sleep(0.05)
    worker.kill()
    raise RuntimeError(f"the warm client worker did not listen on {path} within {START_TIMEOUT:.0f} s; see {log}")
