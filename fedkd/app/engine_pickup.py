"""How Flower's simulation engine picks up the ServerApp's instructions, made prompt and longest-first.

Flower 1.41's engine hands pushed instructions to its workers from a thread that looks every 0.1 s
(`add_messages_to_queue` in flwr/server/superlink/fleet/vce/vce_api.py; the interval is not settable): each phase
of a round waits 50 ms on average before any worker starts, and the workers then take the instructions in node
order. `simulation.instruction_pickup=wake` (default) swaps in the same loop that also wakes as soon as fedkd's
grid has pushed a phase's instructions, and queues what it finds longest-first, ranked by each node's last
ClientApp seconds: longest-processing-time-first list scheduling (Graham, "Bounds on Multiprocessing Timing
Anomalies", SIAM J. Appl. Math. 1969; within 4/3 of the best makespan when the times are exact, here they are the
last round's), where partition order can leave a worker idle while the other runs the largest client last.
`flower` keeps Flower's loop.

The swap replaces one module-level function that `run_api` looks up when it starts the engine, and only if its
signature is the one this was written against; otherwise Flower's loop stays and a warning says so.
"""

from __future__ import annotations

import inspect
import threading
import warnings
from collections.abc import Callable
from queue import Queue
from typing import Any

PICKUPS = ("wake", "flower")
IDLE_WAIT = 0.1  # seconds between looks when nothing wakes the loop: Flower's own interval
_EXPECTED = ["state", "queue", "nodes_mapping", "f_stop"]

_pushed = threading.Event()
_expected_seconds: dict[tuple[int, str], float] = {}


def instructions_pushed() -> None:
    """Called by the grid right after it pushed a phase's instructions."""
    _pushed.set()


def record_seconds(node_id: int, phase: str, seconds: float) -> None:
    """A node's latest ClientApp seconds in a phase: the rank of its next instruction of that phase."""
    _expected_seconds[(node_id, phase)] = seconds


def longest_first(messages: list[Any]) -> list[Any]:
    """Messages ordered by their node's last ClientApp seconds in the same phase, longest first; nodes not yet seen
    first of all (their cost is unknown), ties in the order found."""
    def rank(message: Any) -> float:
        return -_expected_seconds.get((message.metadata.dst_node_id, message.metadata.message_type), float("inf"))
    return sorted(messages, key=rank)


def waking_pickup(state: Any, queue: Queue, nodes_mapping: dict, f_stop: threading.Event) -> None:
    """Flower's pickup loop, woken by `instructions_pushed` and queueing longest-first."""
    while not f_stop.is_set():
        _pushed.clear()  # cleared before the look: a push during it wakes the next one at once
        found = [msg for node_id in nodes_mapping for msg in state.get_message_ins(node_id=node_id, limit=1)]
        for msg in longest_first(found):
            queue.put(msg)
        _pushed.wait(IDLE_WAIT)


def install(pickup: str) -> Callable[[], None]:
    """Swap the engine's pickup loop for `pickup`'s; returns the function that puts Flower's back."""
    from flwr.server.superlink.fleet.vce import vce_api

    original = vce_api.add_messages_to_queue
    if pickup == "flower":
        return lambda: None
    if list(inspect.signature(original).parameters) != _EXPECTED:
        warnings.warn("simulation.instruction_pickup=wake: this Flower's add_messages_to_queue has another "
                      "signature; keeping Flower's 0.1 s pickup", stacklevel=2)
        return lambda: None
    _expected_seconds.clear()
    vce_api.add_messages_to_queue = waking_pickup

    def restore() -> None:
        vce_api.add_messages_to_queue = original
    return restore
