"""Timestamps of a message's way through a deployment, for benchmarks/deployment_phases.py.

With FEDKD_TIMING_LOG=<file> in the environment of the SuperLink and SuperNodes (their ServerApp, ClientApp
and worker processes inherit it), every process appends JSON lines {"t", "pid", "event", ...} to that file;
without it, `mark` does nothing. All processes run on one host, so their wall clocks compare."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

TIMING_LOG = "FEDKD_TIMING_LOG"


def mark(event: str, **fields: Any) -> None:
    path = os.environ.get(TIMING_LOG)
    if not path:
        return
    line = json.dumps({"t": time.time(), "pid": os.getpid(), "event": event, **fields}) + "\n"
    with open(path, "a") as fh:  # one short append per line: lines of different processes do not interleave
        fh.write(line)


def process_started_at() -> float:
    """When this process started (wall clock, Linux /proc), to 1/CLK_TCK s."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")
