"""In-process runtime: the same ServerApp logic, strategies and ClientApp, without Ray or a SuperLink.

`InProcessGrid` is a Flower `Grid` that delivers each message by calling the `ClientApp` directly, one
node after another, with one persistent `Context` per node (its `state` survives across rounds as in
the Simulation Runtime). No worker start-up, one process, deterministic order: for tests, sweeps of
many short runs (benchmarks/personalization_comparison.py) and debugging. `simulation.backend`
selects it; the Ray-backed Simulation Runtime stays the default.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Iterable
from pathlib import Path

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from fedkd.app.client_app import make_client_app
from fedkd.app.experiment_config import FederatedConfig
from fedkd.app.server_app import RoundObserver, serve
from fedkd.protocol.run_config import NUM_PARTITIONS, PARTITION_ID

RUN_ID = 1


class InProcessGrid(Grid):
    def __init__(self, client_app: ClientApp, num_nodes: int) -> None:
        self._run = Run.create_empty(RUN_ID)
        self.client_app = client_app
        # Node ids start above the SuperLink's id; partition-id = position.
        self.contexts = {
            SUPERLINK_NODE_ID + 1 + partition: Context(
                run_id=RUN_ID, node_id=SUPERLINK_NODE_ID + 1 + partition,
                node_config={PARTITION_ID: partition, NUM_PARTITIONS: num_nodes},
                state=RecordDict(), run_config={})
            for partition in range(num_nodes)
        }
        self._replies: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content=content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id,
                       ttl=ttl)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            message_id = uuid.uuid4().hex
            msg.metadata.__dict__["_message_id"] = message_id  # as Flower's InMemoryGrid does
            self._replies[message_id] = self._deliver(msg)
            ids.append(message_id)
        return ids

    def _deliver(self, msg: Message) -> Message:
        """The ClientApp's reply; an exception becomes an error reply carrying its traceback, as Flower's
        runtimes report it."""
        try:
            return self.client_app(msg, self.contexts[msg.metadata.dst_node_id])
        except Exception:  # a client's bug or out-of-memory is the server's to report, not to die of
            return Message(Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, traceback.format_exc()), reply_to=msg)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(mid) for mid in message_ids if mid in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


def run_in_process(config: FederatedConfig, output_root: Path | None = None,
                   on_round: RoundObserver | None = None, overrides: list[str] | None = None) -> Path:
    """Run the federation of `config` in this process; returns the run directory. `on_round` sees each round's
    row (a tuner reports it and may stop the run by raising); `overrides` go into the run's resume file."""
    logging.getLogger("flwr").setLevel(logging.WARNING)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, RUN_ID, SUPERLINK_NODE_ID
    grid = InProcessGrid(make_client_app(lambda _context: config), config.simulation.num_clients)
    return serve(grid, config, output_root, on_round=on_round, overrides=overrides)
