"""fedkd's pickup loop for Flower's simulation engine (fedkd/app/engine_pickup.py): it queues instructions
longest-first by each node's last ClientApp seconds in the same phase, wakes on a push instead of waiting out its
idle interval, stops with the engine, and is installed only over the Flower function it was written against."""

from __future__ import annotations

import threading
from queue import Queue
from types import SimpleNamespace

import pytest
from flwr.server.superlink.fleet.vce import vce_api

from fedkd.app import engine_pickup


def _message(node: int, phase: str = "train") -> SimpleNamespace:
    return SimpleNamespace(metadata=SimpleNamespace(dst_node_id=node, message_type=phase))


class _State:
    """A LinkState holding pushed instructions until the engine asks for them."""

    def __init__(self) -> None:
        self.waiting: dict[int, list] = {}
        self.lock = threading.Lock()

    def push(self, message: SimpleNamespace) -> None:
        with self.lock:
            self.waiting.setdefault(message.metadata.dst_node_id, []).append(message)

    def get_message_ins(self, node_id: int, limit: int) -> list:
        with self.lock:
            taken, self.waiting[node_id] = self.waiting.get(node_id, [])[:limit], self.waiting.get(node_id, [])[limit:]
        return taken


def test_instructions_go_longest_first_per_phase_with_unseen_nodes_first(monkeypatch):
    monkeypatch.setattr(engine_pickup, "_expected_seconds", {})
    for node, seconds in ((1, 0.2), (2, 0.9), (3, 0.5)):
        engine_pickup.record_seconds(node, "train", seconds)
        engine_pickup.record_seconds(node, "evaluate", 1.0 - seconds)
    train = engine_pickup.longest_first([_message(n) for n in (1, 2, 3, 4)])
    evaluate = engine_pickup.longest_first([_message(n, "evaluate") for n in (1, 2, 3)])
    assert [m.metadata.dst_node_id for m in train] == [4, 2, 3, 1]
    assert [m.metadata.dst_node_id for m in evaluate] == [1, 3, 2]


def test_a_push_wakes_the_loop_before_its_idle_wait_and_a_stop_ends_it(monkeypatch):
    monkeypatch.setattr(engine_pickup, "IDLE_WAIT", 60.0)  # without the wake, the test's 10 s get would time out
    monkeypatch.setattr(engine_pickup, "_expected_seconds", {})
    state, queue, stop = _State(), Queue(), threading.Event()
    loop = threading.Thread(target=engine_pickup.waking_pickup, args=(state, queue, {7: 0, 8: 1}, stop))
    loop.start()
    try:
        for node in (8, 7):
            state.push(_message(node))
        engine_pickup.instructions_pushed()
        got = {queue.get(timeout=10).metadata.dst_node_id, queue.get(timeout=10).metadata.dst_node_id}
        assert got == {7, 8}
    finally:
        stop.set()
        engine_pickup.instructions_pushed()  # the stop is seen at the next look
        loop.join(timeout=10)
    assert not loop.is_alive()


def test_install_swaps_flowers_loop_and_puts_it_back():
    original = vce_api.add_messages_to_queue
    restore = engine_pickup.install("wake")
    try:
        assert vce_api.add_messages_to_queue is engine_pickup.waking_pickup
    finally:
        restore()
    assert vce_api.add_messages_to_queue is original
    engine_pickup.install("flower")()
    assert vce_api.add_messages_to_queue is original


def test_another_flower_signature_keeps_flowers_loop(monkeypatch):
    def changed(state, queue, nodes_mapping, f_stop, interval):
        return None

    monkeypatch.setattr(vce_api, "add_messages_to_queue", changed)
    with pytest.warns(UserWarning, match="another signature; keeping Flower's 0.1 s pickup"):
        engine_pickup.install("wake")()
    assert vce_api.add_messages_to_queue is changed
