"""FedPer/FedRep server: the averaged body replaces the body; the server's head is left untouched."""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.supercore.task_identity import TaskIdentity

from fedkd.methods.personal_head import is_personal
from strategies.fedavg import LoggedFedAvg


class _TwoNodeGrid:
    def get_node_ids(self) -> list[int]:
        return [2, 3]


def test_body_is_averaged_and_head_kept():
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID
    server = {"body.weight": torch.zeros(2, 2), "head.weight": torch.full((3, 2), 7.0)}
    strategy = LoggedFedAvg(fraction_train=1.0, min_train_nodes=2, min_available_nodes=2)
    messages = list(strategy.configure_train(1, ArrayRecord(server), ConfigRecord(), _TwoNodeGrid()))
    replies = [
        Message(RecordDict({"arrays": ArrayRecord({"body.weight": torch.full((2, 2), value)}),
                            "metrics": MetricRecord({"num-examples": examples})}), reply_to=msg)
        for msg, value, examples in zip(messages, (1.0, 4.0), (30, 10), strict=True)
    ]
    merged, _ = strategy.aggregate_train(1, replies)
    weights = merged.to_torch_state_dict()
    assert list(weights) == ["body.weight", "head.weight"]
    assert torch.allclose(weights["body.weight"], torch.full((2, 2), (30 * 1.0 + 10 * 4.0) / 40))
    assert torch.equal(weights["head.weight"], server["head.weight"])


def test_personal_prefix_matches_whole_name_parts_only():
    assert is_personal("head.weight", ["head"]) and is_personal("head", ["head"])
    assert not is_personal("header.weight", ["head"])
    assert is_personal("features.6.0.weight", ["features.6"]) and not is_personal("features.60.weight", ["features.6"])
