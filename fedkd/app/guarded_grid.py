"""The server's guard between the strategy and the federation: injected failures, reply validation, client
errors and the minimum of good replies.

Per train instruction it (1) applies the injected fate (`simulation.failures`): a crashed client gets no
instruction, a straggler's reply is dropped, a corrupt one is spoilt; (2) turns every reply whose update fails
`update_problem` into an error reply, so that no strategy ever averages it; (3) keeps the traceback of a
ClientApp that raised in `client_errors/` and fails the run unless `simulation.on_client_error=tolerate`;
(4) below `failures.min_replies` valid train replies, skips the round's aggregation or fails the run. Every
reply that did not count is recorded as an outcome (round, phase, partition, status, reason) for
rounds.csv and clients.csv. `simulation.round_timeout` bounds the whole exchange, the upload of a deployed
reply included (`bounded_pulls.py`); replies are asked for every `simulation.reply_poll_interval` s (null:
0.01 s in the simulation runtime, 0.1 s deployed).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flwr.app import Error, Message
from flwr.common.constant import ErrorCode
from flwr.superlink.grid.inmemory_grid import InMemoryGrid

from fedkd.app.bounded_pulls import object_pulls_until
from fedkd.app.engine_pickup import instructions_pushed, record_seconds
from fedkd.app.failures import CORRUPT, CRASHED, OK, STRAGGLER, FailureInjector
from fedkd.app.ordered_grid import OrderedGrid, ReplyOrigins, reply_seconds
from fedkd.app.reply_checks import update_problem
from fedkd.app.simulation_settings import DEPLOYED_POLL, SIMULATED_POLL, SimulationSettings
from fedkd.app.timing_log import mark
from fedkd.protocol.instructions import SERVER_ROUND

REJECTED, ERROR, SKIPPED = "rejected", "error", "skipped"  # further statuses besides those of failures.py
LOST = (ErrorCode.NODE_UNAVAILABLE, ErrorCode.MESSAGE_UNAVAILABLE, ErrorCode.REPLY_MESSAGE_UNAVAILABLE)
CLIENT_ERRORS = "client_errors"


class ClientFailure(RuntimeError):
    """A client raised and `simulation.on_client_error=fail`, or a round had too few valid replies."""


class GuardedGrid(OrderedGrid):
    def __init__(self, grid: Any, simulation: SimulationSettings, seed: int, run_path: Path) -> None:
        super().__init__(grid)
        self.simulation = simulation
        self.injector = FailureInjector(simulation.failures, seed)
        self.errors_dir = run_path / CLIENT_ERRORS
        self.outcomes: list[dict[str, Any]] = []    # this round's replies that did not count
        self.executed: set[int] = set()             # partitions that ran this round's train instruction
        self.short_since: float | None = None       # when fewer than min_clients nodes were first connected
        simulated = isinstance(grid, InMemoryGrid)  # Flower's simulation runtime: an ask costs microseconds
        self.poll_interval = simulation.reply_poll_interval or (SIMULATED_POLL if simulated else DEPLOYED_POLL)

    def start_round(self) -> None:
        self.outcomes, self.executed = [], set()

    def _note(self, node: int, phase: str, server_round: int, status: str, reason: str) -> None:
        self.outcomes.append({"round": server_round, "phase": phase, "node_id": node,
                              "partition_id": self.partition_of.get(node, -1), "status": status, "reason": reason})

    def get_node_ids(self) -> Iterable[int]:
        """The connected nodes. Flower's strategies wait without end for `min_clients` of them; after
        `round_timeout` s with fewer (SuperNodes lost in a deployment) the run fails with a clear line."""
        nodes = list(super().get_node_ids())
        sim = self.simulation
        if len(nodes) >= sim.min_clients:
            self.short_since = None
        elif self.short_since is None:
            self.short_since = time.monotonic()
        elif time.monotonic() - self.short_since > sim.round_timeout:
            raise ClientFailure(f"only {len(nodes)} of {sim.num_clients} SuperNodes connected for "
                                f"simulation.round_timeout={sim.round_timeout:g} s, fewer than "
                                f"simulation.min_clients={sim.min_clients}; restart the lost SuperNodes or lower "
                                "simulation.min_clients")
        return nodes

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        if not messages or messages[0].metadata.message_type not in ("train", "evaluate"):
            return super().send_and_receive(messages, timeout=timeout)
        phase = messages[0].metadata.message_type
        server_round = int(messages[0].content["config"].get(SERVER_ROUND, 0)) if "config" in messages[0].content \
            else 0
        fates = {m.metadata.dst_node_id: self._fate(phase, server_round, m) for m in messages}
        sent = {m.metadata.dst_node_id: m for m in messages}
        crashed = [m for m in messages if fates[m.metadata.dst_node_id] == CRASHED]
        for m in crashed:
            self._note(m.metadata.dst_node_id, phase, server_round, CRASHED, "injected: crashed before replying")
        delivered = [m for m in messages if fates[m.metadata.dst_node_id] != CRASHED]
        if phase == "train":
            self.executed |= {self.partition_of[m.metadata.dst_node_id] for m in delivered}
        timeout = self.simulation.round_timeout
        with object_pulls_until(time.monotonic() + timeout, self.poll_interval):
            raw = self._push_and_pull(delivered, timeout, phase, server_round)
            raw = self.in_order(raw + self._waiting_at_deadline(delivered, raw), delivered)
        origins = ReplyOrigins(delivered)
        nodes = [origins.node_of(r) for r in raw]
        answered = set(nodes)
        for r, node in zip(raw, nodes, strict=True):
            if not r.has_error():
                record_seconds(node, phase, reply_seconds(r))
        replies = [self._checked(r, node, sent[node], fates.get(node, OK), phase, server_round)
                   for r, node in zip(raw, nodes, strict=True)]
        for m in delivered:
            if m.metadata.dst_node_id not in answered:
                self._note(m.metadata.dst_node_id, phase, server_round, STRAGGLER,
                           f"no reply within simulation.round_timeout={self.simulation.round_timeout:g} s")
        kept = [r for r in replies if r is not None]
        return self._enough(kept, phase, server_round)

    def _push_and_pull(self, messages: list[Message], timeout: float, phase: str, server_round: int
                       ) -> list[Message]:
        """Flower's send_and_receive, asking for replies every `simulation.reply_poll_interval` s (its deployed
        grid waits a fixed 3 s between asks, on average 1.5 s per phase after the last reply is in)."""
        waiting = set(self.inner.push_messages(messages))
        instructions_pushed()
        mark("pushed", phase=phase, round=server_round)
        deadline = time.monotonic() + timeout
        replies: list[Message] = []
        while True:
            pulled = list(self.inner.pull_messages(waiting))
            for r in pulled:
                mark("replied", phase=phase, round=server_round, partition=self.partition_of.get(
                    r.metadata.src_node_id, -1))
            replies += pulled
            waiting -= {r.metadata.reply_to_message_id for r in pulled}
            if not waiting or time.monotonic() >= deadline:
                return replies
            time.sleep(self.poll_interval)

    def _waiting_at_deadline(self, delivered: list[Message], replies: list[Message]) -> list[Message]:
        """One last pull, at the deadline, of replies still missing: while a deployed grid was stuck on one
        node's unfinished upload until the deadline, the others' replies may have arrived unpulled."""
        answered = {r.metadata.reply_to_message_id for r in replies}
        waiting = [m.metadata.message_id for m in delivered
                   if m.metadata.message_id and m.metadata.message_id not in answered]
        return list(self.inner.pull_messages(waiting)) if waiting else []

    def _fate(self, phase: str, server_round: int, msg: Message) -> str:
        if phase != "train" or not self.simulation.failures.injects:
            return OK
        return self.injector.fate(server_round, self.partition_of[msg.metadata.dst_node_id])

    def _checked(self, reply: Message, node: int, instruction: Message, fate: str, phase: str,
                 server_round: int) -> Message | None:
        partition = self.partition_of.get(node, -1)
        if reply.has_error() and reply.error.code in LOST:  # the SuperLink gave the node up: a crash, not a bug
            self._note(node, phase, server_round, CRASHED, f"node lost: {reply.error.reason}")
            return None
        if reply.has_error():
            return self._client_error(reply, node, phase, server_round, partition)
        if fate == STRAGGLER:
            self._note(node, phase, server_round, STRAGGLER, "injected: replied after the round's timeout")
            return None
        if phase != "train":
            return reply
        if fate == CORRUPT:
            self.injector.corrupt(reply, server_round, partition)
        problem = update_problem(instruction.content["arrays"], reply)
        if problem is None:
            return reply
        self._note(node, phase, server_round, REJECTED, problem)
        return Message(Error(ErrorCode.UNKNOWN, f"rejected update: {problem}"), reply_to=instruction)

    def _client_error(self, reply: Message, node: int, phase: str, server_round: int, partition: int) -> Message:
        self.errors_dir.mkdir(parents=True, exist_ok=True)
        path = self.errors_dir / f"round-{server_round:04d}-{phase}-p{partition}.txt"
        path.write_text(f"{reply.error.reason}\n")
        self._note(node, phase, server_round, ERROR,
                   f"the ClientApp raised; see {CLIENT_ERRORS}/{path.name}")
        if self.simulation.on_client_error == "fail":
            raise ClientFailure(f"client {partition} raised in round {server_round} ({phase}); its traceback is in "
                                f"{path}; simulation.on_client_error=tolerate goes on without such replies")
        return reply

    def _enough(self, replies: list[Message], phase: str, server_round: int) -> list[Message]:
        failures = self.simulation.failures
        valid = [r for r in replies if not r.has_error()]
        if phase != "train" or len(valid) >= failures.min_replies:
            return replies
        if failures.below_min == "fail":
            raise ClientFailure(f"round {server_round}: {len(valid)} valid train replies, fewer than "
                                f"simulation.failures.min_replies={failures.min_replies}; lower it, or set "
                                "simulation.failures.below_min=skip_round")
        for r in valid:
            self._note(r.metadata.src_node_id, phase, server_round, SKIPPED,
                       f"round skipped: {len(valid)} valid replies < min_replies={failures.min_replies}")
        return []
