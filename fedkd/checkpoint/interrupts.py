"""SIGINT / SIGTERM ask a run to stop at the end of its running round (or training epoch), after writing a
checkpoint.

A second signal stops at once (the last periodic checkpoint is then the one to resume from). The handlers
are installed by the command, in the main thread; the round loop (which under Ray runs in another thread)
only reads the flag.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from fedkd.errors import UserError

INTERRUPTED_EXIT_CODE = 130
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def clear(self) -> None:
        self.signal = None


STOP = StopRequest()


class Interrupted(UserError):
    """The run stopped on a signal after writing a checkpoint; its directory stays resumable."""

    keeps_run_directory = True  # RunDirectory leaves it `.incomplete` instead of marking it failed
    exit_code = INTERRUPTED_EXIT_CODE

    def __init__(self, run_path: Path, where: str, signal_number: int, command: str = "fedkd-sim") -> None:
        """`where`: what finished before the stop, e.g. `round 3` or `epoch 4 of dp-sgd`."""
        self.run_path = run_path
        name = signal.Signals(signal_number).name if signal_number else "a stop request"
        super().__init__(f"stopped by {name} after {where} (checkpoint written); continue with: {command} "
                         f"resume={run_path}")


_ACTIVE_HANDLER: list[Callable[[int, FrameType | None], None]] = []


def reinstall_handlers() -> None:
    """Put the run's handlers back after a library replaced them (`ray.init` installs its own SIGTERM handler,
    which would stop the driver without a checkpoint); a no-op outside a run or the main thread."""
    if _ACTIVE_HANDLER and threading.current_thread() is threading.main_thread():
        for s in _SIGNALS:
            signal.signal(s, _ACTIVE_HANDLER[-1])


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install the handlers for the duration of a run (a no-op outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}

    def handler(number: int, frame: FrameType | None) -> None:
        if STOP.requested:
            for s, old in previous.items():
                signal.signal(s, old)
            raise KeyboardInterrupt
        STOP.signal = number

    STOP.clear()
    for s in _SIGNALS:
        signal.signal(s, handler)
    _ACTIVE_HANDLER.append(handler)
    try:
        yield STOP
    finally:
        _ACTIVE_HANDLER.remove(handler)
        for s, old in previous.items():
            signal.signal(s, old)
        STOP.clear()
