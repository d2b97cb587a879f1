"""A SuperNode killed while uploading its reply leaves the reply's objects registered but never uploaded; Flower's
deployed grid would retry them for up to 2 h. Inside `object_pulls_until` the real `HttpGrid.pull_messages`
gives up at the deadline and returns Flower's MESSAGE_UNAVAILABLE reply, which the guarded grid counts as a
crashed client."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.app.message import remove_content_from_message
from flwr.common.constant import ErrorCode
from flwr.common.serde import message_to_proto
from flwr.supercore.inflatable.inflatable_object import get_object_tree
from flwr.supercore.task_identity import TaskIdentity
from flwr.superlink.grid.http_grid import HttpGrid
from helpers import ThreeNodeGrid

from fedkd.app.bounded_pulls import object_pulls_until
from fedkd.app.guarded_grid import GuardedGrid
from fedkd.app.ordered_grid import partition_query_reply
from fedkd.app.simulation_settings import SimulationSettings
from fedkd.protocol.instructions import SERVER_ROUND

DEAD_NODE = 13


class TooManyTries(RuntimeError):
    """Stands for Flower's 500 retries: the pull was not bounded."""


class _RuntimeWithAnUnfinishedUpload:
    """The SuperLink's runtime API as the ServerApp sees it after a node died mid-upload: the reply message is
    stored, its objects are registered but never become available."""

    def __init__(self, reply: Message, limit: int = 5) -> None:
        self.reply, self.object_pulls, self.limit = reply, 0, limit

    def PullMessages(self, request):
        proto = message_to_proto(remove_content_from_message(self.reply))
        return SimpleNamespace(messages_list=[proto], message_object_trees=[get_object_tree(self.reply)])

    def PullObject(self, request):
        self.object_pulls += 1
        if self.object_pulls > self.limit:
            raise TooManyTries
        return SimpleNamespace(object_found=True, object_available=False, object_content=b"")


@pytest.fixture
def identity():
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 1


def _instruction_and_reply(node: int, partition: int = 2) -> tuple[Message, Message]:
    instruction = Message(RecordDict({"config": ConfigRecord({SERVER_ROUND: 1})}), dst_node_id=node,
                          message_type="train")
    instruction.metadata.__dict__["_message_id"] = f"ins-{node}"  # as pushing sets it
    reply = partition_query_reply(instruction, partition)
    reply.metadata.__dict__["_message_id"] = reply.object_id
    return instruction, reply


def _deployed_grid(runtime: _RuntimeWithAnUnfinishedUpload) -> HttpGrid:
    grid = HttpGrid(token="test")
    grid._client, grid._run = runtime, SimpleNamespace(run_id=1)  # connected, as `set_run` leaves it
    return grid


def test_an_unfinished_upload_is_given_up_at_the_deadline(identity):
    instruction, reply = _instruction_and_reply(DEAD_NODE)
    runtime = _RuntimeWithAnUnfinishedUpload(reply)
    with object_pulls_until(time.monotonic() + 0.5):
        (answer,) = _deployed_grid(runtime).pull_messages([instruction.metadata.message_id])
    assert answer.has_error() and answer.error.code == ErrorCode.MESSAGE_UNAVAILABLE
    assert answer.metadata.reply_to_message_id == instruction.metadata.message_id
    assert runtime.object_pulls <= 3  # Flower alone retries up to 500 times
    with pytest.raises(TooManyTries):  # outside the context Flower's own limits apply again
        _deployed_grid(_RuntimeWithAnUnfinishedUpload(reply)).pull_messages([instruction.metadata.message_id])


class _GridWithADeadUploader(ThreeNodeGrid):
    """Node 12 answers; node 13's reply is stuck in upload, pulled the way Flower's deployed grid does, so the
    grid's pulling is held up to the deadline; node 11's reply arrived meanwhile and is left to be pulled."""

    def __init__(self) -> None:
        self.late: dict[str, Message] = {}

    def answer(self, msg: Message, partition: int) -> list[Message]:
        if msg.metadata.dst_node_id == DEAD_NODE:
            stuck = partition_query_reply(msg, partition)
            stuck.metadata.__dict__["_message_id"] = stuck.object_id
            runtime = _RuntimeWithAnUnfinishedUpload(stuck, limit=20)
            return list(_deployed_grid(runtime).pull_messages([msg.metadata.message_id]))
        if msg.metadata.dst_node_id == 11:
            self.late[msg.metadata.message_id] = partition_query_reply(msg, partition)
            return []
        return [partition_query_reply(msg, partition)]

    def pull_messages(self, message_ids):
        return super().pull_messages(message_ids) + [self.late.pop(i) for i in list(message_ids) if i in self.late]


def test_the_guarded_grid_counts_a_node_that_died_mid_upload_as_crashed_and_keeps_the_others(tmp_path, identity):
    grid = GuardedGrid(_GridWithADeadUploader(), SimulationSettings(round_timeout=0.5), 0, tmp_path)
    grid.discover()
    messages = [grid.create_message(RecordDict({"config": ConfigRecord({SERVER_ROUND: 3})}), "evaluate", node, "")
                for node in grid.get_node_ids()]
    replies = list(grid.send_and_receive(messages))
    assert [grid.partition_of[r.metadata.src_node_id] for r in replies] == [0, 1]  # the late reply counts too
    assert not any(r.has_error() for r in replies)
    (lost,) = grid.outcomes
    assert (lost["partition_id"], lost["status"], lost["phase"]) == (2, "crashed", "evaluate")
    assert "objects are unavailable" in lost["reason"]


def test_inside_object_pulls_until_a_missing_object_is_retried_soon(monkeypatch):
    from flwr.superlink.grid import http_grid

    seen = {}
    monkeypatch.setattr(http_grid, "pull_objects", lambda *a, **kw: seen.update(kw) or {})
    with object_pulls_until(time.monotonic() + 30, first_retry=0.1):
        http_grid.pull_objects(["x"], lambda _: b"")
    assert seen["initial_backoff"] == 0.1 and seen["backoff_cap"] == 1.0  # Flower's own: 1 s doubling to 10 s
    assert 29 < seen["max_time"] <= 30
