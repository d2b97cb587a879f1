"""A node's warm worker: fedkd's ClientApp in one long-lived process, serving the node's ClientApp processes
over a Unix socket (warm_worker.py starts it and says why).

    python -m fedkd.app.client_worker --socket PATH --watch-pid PID --idle SECONDS

Messages are handled one at a time, in the order they come. An exception of the ClientApp goes back to the
ClientApp process as a traceback, which Flower then reports as that message's error reply.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

from fedkd.app import worker_wire as wire
from fedkd.app.timing_log import mark


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _handle(conn: socket.socket, client_app) -> None:
    msg = wire.message_of(wire.read_part(conn))
    context = wire.context_of(wire.read_part(conn))
    mark("worker_start", phase=msg.metadata.message_type)
    try:
        reply = client_app(msg, context)
    except Exception:  # the ClientApp's error is the message's error reply, not the worker's end
        wire.send_parts(conn, wire.RAISED, traceback.format_exc().encode())
        return
    mark("worker_end", phase=msg.metadata.message_type)
    wire.send_parts(conn, wire.OK, wire.message_bytes(reply), wire.context_bytes(context))


def serve(path: Path, watch_pid: int, idle_seconds: float) -> None:
    from fedkd.app.client_app import app  # torch, fedkd and the client's caches live as long as this process

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped with its SuperNode: clean up below
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen()
    server.settimeout(1.0)
    last = time.monotonic()
    try:
        while _alive(watch_pid) and time.monotonic() - last < idle_seconds:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(ConnectionError):  # a ClientApp process killed mid-message
                conn.settimeout(None)
                _handle(conn, app)
            last = time.monotonic()
    finally:
        server.close()
        path.unlink(missing_ok=True)
        path.with_suffix(".lock").unlink(missing_ok=True)
        log = path.with_suffix(".log")
        if log.is_file() and log.stat().st_size == 0:
            log.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--watch-pid", type=int, required=True, help="exit when this process is gone")
    parser.add_argument("--idle", type=float, required=True, help="exit after this many seconds without a message")
    args = parser.parse_args()
    serve(args.socket, args.watch_pid, args.idle)


if __name__ == "__main__":
    main()
