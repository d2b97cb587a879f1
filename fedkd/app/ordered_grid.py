"""A Grid that makes every backend see the federation in the same order: nodes by partition id.

Under Ray (and in a deployment) node ids are random 64-bit numbers drawn anew each run, so Flower's
`random.sample(grid.get_node_ids(), k)` picks different partitions from the same seeded `random` state, and
replies arrive in completion order, which changes the floating-point sum of the aggregate. `OrderedGrid` asks
every node its partition id once (a `query` message), then lists node ids in partition order and returns
replies in partition order. With it, one seed gives the same sampled clients and the same aggregate under
Ray, in-process and `flwr run .` (docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from fedkd.protocol.reply import PARTITION_ID, SECONDS

QUERY_PARTITION = "fedkd.partition"   # the query's ConfigRecord; the reply's ConfigRecord carries PARTITION_ID
DISCOVERY_TIMEOUT = 600.0


def partition_query_reply(msg: Message, partition_id: int) -> Message:
    """A ClientApp's answer to the partition query."""
    return Message(content=RecordDict({QUERY_PARTITION: ConfigRecord({PARTITION_ID: partition_id})}), reply_to=msg)


def reply_partition(msg: Message) -> int | None:
    """The partition id a reply names (train and evaluate replies carry it in their metrics)."""
    if msg.has_error():
        return None
    for record in msg.content.metric_records.values():
        if PARTITION_ID in record:
            return int(record[PARTITION_ID])
    query = msg.content.config_records.get(QUERY_PARTITION)
    return int(query[PARTITION_ID]) if query is not None else None


def reply_seconds(msg: Message) -> float:
    """The ClientApp seconds a train or evaluate reply reports (0 where it reports none)."""
    for record in msg.content.metric_records.values():
        if SECONDS in record:
            return float(record[SECONDS])
    return 0.0


class OrderedGrid(Grid):
    """Wraps a Grid; `discover()` learns each node's partition before the first round."""

    def __init__(self, grid: Grid) -> None:
        self.inner = grid
        self.partition_of: dict[int, int] = {}

    def discover(self) -> dict[int, int]:
        """Ask every node its partition id; returns {node id: partition id}."""
        nodes = list(self.inner.get_node_ids())
        queries = [self.inner.create_message(RecordDict({QUERY_PARTITION: ConfigRecord()}), "query", node, "")
                   for node in nodes]
        replies = list(self.inner.send_and_receive(queries, timeout=DISCOVERY_TIMEOUT))
        for msg in replies:
            partition = reply_partition(msg)
            if partition is not None:
                self.partition_of[msg.metadata.src_node_id] = partition
        missing = sorted(set(nodes) - set(self.partition_of))
        if missing:
            raise RuntimeError(f"{len(missing)} of {len(nodes)} nodes did not say their partition id")
        return self.partition_of

    def _order(self, node_id: int) -> tuple[int, int]:
        return self.partition_of.get(node_id, len(self.partition_of)), node_id

    def set_run(self, run: Run) -> None:
        self.inner.set_run(run)

    @property
    def run(self) -> Run:
        return self.inner.run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return self.inner.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return sorted(self.inner.get_node_ids(), key=self._order)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.inner.pull_messages(message_ids)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        return self.in_order(self.inner.send_and_receive(messages, timeout=timeout), messages)

    def in_order(self, replies: Iterable[Message], instructions: list[Message]) -> list[Message]:
        """`replies` to `instructions`, by partition id of the node each answers for."""
        origins = ReplyOrigins(instructions)
        return sorted(replies, key=lambda m: self._order(origins.node_of(m)))


class ReplyOrigins:
    """Which node each reply answers for. Its sender, when that is a node the instructions went to; else (an
    error the SuperLink writes, from its own id, in place of a lost node's reply) the node of the instruction
    it replies to (pushing the instructions set their ids)."""

    def __init__(self, instructions: Iterable[Message]) -> None:
        instructions = list(instructions)
        self.nodes = {m.metadata.dst_node_id for m in instructions}
        self.by_id = {m.metadata.message_id: m.metadata.dst_node_id for m in instructions if m.metadata.message_id}

    def node_of(self, reply: Message) -> int:
        sender = reply.metadata.src_node_id
        return sender if sender in self.nodes else self.by_id.get(reply.metadata.reply_to_message_id, sender)
