"""Client failures: injected crashes, stragglers and corrupt updates are counted exactly, a corrupt update never
reaches the aggregate, a client that raises is a reported failure, and too few valid replies skip the round or
fail the run."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Error, Message, MetricRecord, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp.strategy import FedAvg
from flwr.supercore.task_identity import TaskIdentity
from helpers import ThreeNodeGrid

from fedkd.app.experiment_config import load_federated
from fedkd.app.failure_settings import FailureSettings
from fedkd.app.failures import CORRUPT, CRASHED, STRAGGLER, FailureInjector
from fedkd.app.guarded_grid import ClientFailure, GuardedGrid
from fedkd.app.inprocess import run_in_process
from fedkd.app.ordered_grid import QUERY_PARTITION, partition_query_reply
from fedkd.app.simulation_settings import SimulationSettings
from fedkd.errors import UserError
from fedkd.methods.fedavg import FedAvgClient
from fedkd.protocol.instructions import SERVER_ROUND
from fedkd.protocol.reply import NUM_EXAMPLES, PARTITION_ID

TINY = ["dataset=digits", "lowres=none", "partition=iid", "simulation.num_clients=5", "simulation.backend=inprocess",
        "train.local_epochs=1", "strategy=fedavg", "num_rounds=3", "checkpoint.every=0"]


def _rounds(path) -> list[dict[str, str]]:
    with open(path / "rounds.csv") as fh:
        return list(csv.DictReader(fh))


def _clients(path) -> list[dict[str, str]]:
    with open(path / "clients.csv") as fh:
        return list(csv.DictReader(fh))


def test_injected_failures_are_counted_exactly_and_the_run_completes(tmp_path):
    overrides = [*TINY, "simulation.failures.crash=0.2", "simulation.failures.straggle=0.2",
                 "simulation.failures.corrupt=0.2", "seed=4"]
    config = load_federated(overrides)
    path = run_in_process(config, tmp_path)
    injector = FailureInjector(config.simulation.failures, config.seed)
    expected = {r: [injector.fate(r, p) for p in range(5)] for r in (1, 2, 3)}
    assert any(CRASHED in f and CORRUPT in f for f in expected.values())  # the seed exercises both
    for row in _rounds(path):
        fates = expected[int(row["round"])]
        assert int(row["clients_crashed"]) == fates.count(CRASHED)
        assert int(row["clients_straggled"]) == fates.count(STRAGGLER)
        assert int(row["clients_rejected"]) == fates.count(CORRUPT)  # every corrupt update was caught
        assert int(row["clients_trained"]) == fates.count("ok")
    statuses = {(int(c["round"]), int(c["partition_id"])): c["status"] for c in _clients(path) if c["phase"] == "train"}
    names = {CRASHED: "crashed", STRAGGLER: "straggler", CORRUPT: "rejected", "ok": "ok"}
    assert statuses == {(r, p): names[f] for r, fates in expected.items() for p, f in enumerate(fates)}


class _FakeGrid(ThreeNodeGrid):
    """Train replies carry the arrays given per partition."""

    def __init__(self, updates: dict[int, dict[str, np.ndarray]]) -> None:
        self.updates = updates

    def answer(self, msg: Message, partition: int) -> list[Message]:
        arrays = ArrayRecord({k: torch.from_numpy(v) for k, v in self.updates[partition].items()})
        metrics = MetricRecord({NUM_EXAMPLES: 10, PARTITION_ID: partition})
        return [Message(content=RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)]


def _train_messages(grid: GuardedGrid) -> list[Message]:
    sent = ArrayRecord({"w": torch.zeros(2), "b": torch.zeros(1)})
    return [grid.create_message(RecordDict({"arrays": sent, "config": ConfigRecord({SERVER_ROUND: 1})}), "train",
                                node, "1") for node in grid.get_node_ids()]


@pytest.fixture
def identity():
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 1


@pytest.mark.parametrize("bad", [{"w": np.array([np.nan, 1.0], np.float32), "b": np.zeros(1, np.float32)},
                                 {"w": np.ones(3, np.float32), "b": np.zeros(1, np.float32)},
                                 {"w": np.ones(2, np.float32), "bias": np.zeros(1, np.float32)}],
                         ids=["nan", "shape", "key"])
def test_a_corrupt_update_never_reaches_the_aggregate(tmp_path, identity, bad):
    good = {0: {"w": np.array([1.0, 2.0], np.float32), "b": np.ones(1, np.float32)},
            2: {"w": np.array([3.0, 6.0], np.float32), "b": np.full(1, 3.0, np.float32)}}
    grid = GuardedGrid(_FakeGrid({**good, 1: bad}), SimulationSettings(), 0, tmp_path)
    grid.discover()
    replies = list(grid.send_and_receive(_train_messages(grid)))
    assert [r.has_error() for r in replies] == [False, True, False]
    assert [o["status"] for o in grid.outcomes] == ["rejected"] and grid.outcomes[0]["partition_id"] == 1
    aggregate, _ = FedAvg().aggregate_train(1, replies)
    np.testing.assert_allclose(aggregate["w"].numpy(), [2.0, 4.0])  # the mean of the two valid replies
    np.testing.assert_allclose(aggregate["b"].numpy(), [2.0])


class _SlowGrid(_FakeGrid):
    """Once armed, its replies are there from the fourth pull on."""

    pulls, armed = 0, False

    def pull_messages(self, message_ids):
        self.pulls += self.armed
        return super().pull_messages(message_ids) if self.pulls > 3 or not self.armed else []


def test_the_server_asks_for_replies_every_reply_poll_interval_until_all_are_in(tmp_path, identity, monkeypatch):
    from fedkd.app import guarded_grid

    slept: list[float] = []
    monkeypatch.setattr(guarded_grid.time, "sleep", slept.append)
    updates = {p: {"w": np.ones(2, np.float32), "b": np.zeros(1, np.float32)} for p in range(3)}
    grid = GuardedGrid(_SlowGrid(updates), SimulationSettings(reply_poll_interval=0.25), 0, tmp_path)
    grid.discover()
    grid.inner.armed = True
    replies = list(grid.send_and_receive(_train_messages(grid)))
    assert len(replies) == 3 and not any(r.has_error() for r in replies)
    assert slept == [0.25] * 3  # three empty asks, then all replies, then no more waiting


def test_too_few_valid_replies_skip_the_round_or_fail_the_run(tmp_path, identity):
    updates = {p: {"w": np.array([np.inf, 0], np.float32), "b": np.zeros(1, np.float32)} for p in range(3)}
    updates[0] = {"w": np.ones(2, np.float32), "b": np.zeros(1, np.float32)}
    skip = SimulationSettings(failures=FailureSettings(min_replies=2))
    grid = GuardedGrid(_FakeGrid(updates), skip, 0, tmp_path)
    grid.discover()
    assert list(grid.send_and_receive(_train_messages(grid))) == []
    assert sorted(o["status"] for o in grid.outcomes) == ["rejected", "rejected", "skipped"]
    fail = SimulationSettings(failures=FailureSettings(min_replies=2, below_min="fail"))
    grid = GuardedGrid(_FakeGrid(updates), fail, 0, tmp_path)
    grid.discover()
    with pytest.raises(ClientFailure, match=r"1 valid train replies, fewer than simulation\.failures\.min_replies=2"):
        grid.send_and_receive(_train_messages(grid))


def _raising_on_partition(partition: int):
    original = FedAvgClient.fit

    def fit(self, round_input):
        if round_input.data.partition_id == partition:
            raise MemoryError("simulated out-of-memory")
        return original(self, round_input)
    return fit


def test_a_client_that_raises_fails_the_run_or_is_tolerated(tmp_path, monkeypatch):
    monkeypatch.setattr(FedAvgClient, "fit", _raising_on_partition(3))
    with pytest.raises(ClientFailure, match="client 3 raised in round 1"):
        run_in_process(load_federated(TINY), tmp_path / "fail")
    [failed] = (tmp_path / "fail").iterdir()
    assert failed.name.endswith(".failed")
    assert "MemoryError: simulated out-of-memory" in (failed / "client_errors" / "round-0001-train-p3.txt").read_text()
    path = run_in_process(load_federated([*TINY, "simulation.on_client_error=tolerate"]), tmp_path / "tolerate")
    assert [int(r["clients_errors"]) for r in _rounds(path)] == [1, 1, 1]
    assert [int(r["clients_trained"]) for r in _rounds(path)] == [4, 4, 4]
    assert len(list((path / "client_errors").iterdir())) == 3


def test_failure_probabilities_summing_above_one_are_refused():
    with pytest.raises(UserError, match=r"simulation.failures.crash=0.6 .* sum to 1.2"):
        load_federated([*TINY, "simulation.failures.crash=0.6", "simulation.failures.corrupt=0.6"])


def test_the_partition_query_is_answered(identity):
    query = Message(content=RecordDict({QUERY_PARTITION: ConfigRecord()}), dst_node_id=5, message_type="query")
    reply = partition_query_reply(query, 7)
    assert reply.content.config_records[QUERY_PARTITION][PARTITION_ID] == 7


def test_an_error_the_superlink_writes_for_a_lost_node_counts_for_that_node():
    """Flower's SuperLink answers for a node that stopped its heartbeats, from its own node id: the reply must
    be matched to the lost node through the instruction it replies to, and count as a crash."""
    from fedkd.app.guarded_grid import LOST
    from fedkd.app.ordered_grid import ReplyOrigins

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 1
    instruction = Message(RecordDict(), dst_node_id=7, message_type="train")
    instruction.metadata.__dict__["_message_id"] = "m7"  # as pushing sets it
    lost = Message(Error(ErrorCode.NODE_UNAVAILABLE, "no heartbeat"), reply_to=instruction)
    lost.metadata.__dict__["_src_node_id"] = 1  # SUPERLINK_NODE_ID, as Flower writes it
    assert lost.metadata.src_node_id == 1
    assert ReplyOrigins([instruction]).node_of(lost) == 7 and lost.error.code in LOST


class _ShrinkingFederation(_FakeGrid):
    """The federation after SuperNodes were lost: only `alive` nodes stay connected."""

    def __init__(self, alive: list[int]) -> None:
        super().__init__({})
        self.alive, self.asked = alive, 0

    def get_node_ids(self):
        self.asked += 1
        assert self.asked <= 3, "the strategy keeps waiting for more nodes"
        return self.alive


def test_a_lost_supernode_does_not_stall_the_next_round(tmp_path, identity):
    """Flower's strategies wait without end for `min_available_nodes`; it is min_clients, not num_clients, so a
    federation of 3 that lost one node still samples the other two."""
    from fedkd.app.strategy_factory import build_strategy

    strategy = build_strategy(load_federated([*TINY, "simulation.num_clients=3", "simulation.min_clients=2"]))
    grid = GuardedGrid(_ShrinkingFederation([11, 12]), SimulationSettings(num_clients=3), 0, tmp_path)
    arrays = ArrayRecord({"w": torch.zeros(2)})
    messages = list(strategy.configure_evaluate(1, arrays, ConfigRecord(), grid))
    assert sorted(m.metadata.dst_node_id for m in messages) == [11, 12]


def test_fewer_connected_nodes_than_min_clients_fail_the_run_after_the_round_timeout(tmp_path, monkeypatch):
    from fedkd.app import guarded_grid

    clock = iter([0.0, 5.0, 11.0])
    monkeypatch.setattr(guarded_grid.time, "monotonic", lambda: next(clock))
    grid = GuardedGrid(_ShrinkingFederation([11]), SimulationSettings(num_clients=3, round_timeout=10), 0, tmp_path)
    assert list(grid.get_node_ids()) == [11] and list(grid.get_node_ids()) == [11]  # 0 s and 5 s: still waiting
    with pytest.raises(ClientFailure, match=r"only 1 of 3 SuperNodes connected for simulation\.round_timeout=10 s, "
                                            r"fewer than simulation\.min_clients=2"):
        grid.get_node_ids()
