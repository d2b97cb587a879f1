"""Make `simulation.round_timeout` bound a deployed round even when a SuperNode dies while uploading its reply.

Flower 1.41's deployed grid (`HttpGrid.pull_messages`) fetches a reply's objects with `pull_objects`, which
retries an object that is registered but not yet uploaded for up to `PULL_MAX_TIME` (2 h) or 500 tries. A
SuperNode killed between storing its reply and uploading the reply's objects leaves exactly that: the pull
waits until the SuperLink drops the node's object-push session (`OBJECT_PUSH_SESSION_TTL_SECONDS`, 180 s of
silence), far past the round's timeout, because the timeout is only checked between pulls. Within
`object_pulls_until(deadline)` every such pull gives up at the deadline (plus at most one backoff step, 10 s);
Flower then returns its MESSAGE_UNAVAILABLE error reply, which the guarded grid counts as a crashed client.

The same wrapper shortens Flower's retry backoff (1 s, doubling to 10 s): the ServerApp sees a reply as soon as
the SuperNode has registered it, usually before its arrays are uploaded, and waited 1 + 2 + 4 s for a model of
1.4 MB that was in after a fraction of a second (docs/deployment.md, "What a deployed round costs").
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flwr.superlink.grid import http_grid

RETRY_CAP = 1.0  # seconds: the longest wait between two tries of one reply object (Flower: 10)


@contextmanager
def object_pulls_until(deadline: float, first_retry: float = 1.0) -> Iterator[None]:
    """While inside, Flower's deployed grid stops retrying reply objects at `deadline` (`time.monotonic()`), and
    retries an object that is not uploaded yet after `first_retry` s, doubling up to RETRY_CAP s."""
    unbounded = http_grid.pull_objects

    def bounded(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        kwargs["max_time"] = max(deadline - time.monotonic(), 0.0)  # 0: one try per object, no retries
        kwargs["initial_backoff"], kwargs["backoff_cap"] = first_retry, max(first_retry, RETRY_CAP)
        return unbounded(*args, **kwargs)

    http_grid.pull_objects = bounded
    try:
        yield
    finally:
        http_grid.pull_objects = unbounded
