"""The set-up choices a personalized-FL comparison rests on: how a teacher treats normalisation, FedBN's local
normalisation layers, uniform or example-weighted aggregation, the per-client validation split and the pFedSD
reference preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.supercore.task_identity import TaskIdentity
from torch import nn

import fedkd.app.inprocess as inprocess
from fedkd.app.experiment_config import load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.app.strategy_factory import build_strategy
from fedkd.data.federated import client_splits, load_client_data, prepare_federation
from fedkd.data.image_data import ImageData
from fedkd.data.partition import IidPartition
from fedkd.errors import UserError
from fedkd.methods.base import RoundInput
from fedkd.methods.fedckd import FedCKDClient, FedCKDSettings, as_teacher
from fedkd.methods.local_norm import LOCAL_NORM, keep_local_norm, norm_keys, with_local_norm
from fedkd.models.small_cnn import SmallCNN
from fedkd.protocol.reply import NUM_EXAMPLES, UNIFORM_WEIGHT
from fedkd.state.client_state import ClientState
from fedkd.training.local import TrainSettings
from strategies.fedavg import LoggedFedAvg
from tests.test_partial_arrays_strategy import _TwoNodeGrid

TINY = ["dataset=digits", "lowres=none", "num_rounds=2", "simulation.num_clients=3", "simulation.backend=inprocess",
        "train.local_epochs=1", "partition=iid"]


def _cnn(dropout: float = 0.0) -> SmallCNN:
    torch.manual_seed(0)
    model = SmallCNN(1, 4, width=4, embedding_dim=8, pool_size=2, dropout=dropout)
    model.train()
    with torch.no_grad():  # running statistics far from any batch's, so that the modes differ
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.fill_(3.0)
                m.running_var.fill_(9.0)
    return model


def test_train_mode_teacher_uses_batch_statistics_and_keeps_dropout_off():
    x = torch.rand(16, 1, 8, 8)
    model = _cnn(dropout=0.5)
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    teacher = as_teacher(model, "train", x)
    with torch.no_grad():
        first, second = teacher(x), teacher(x)
    assert torch.equal(first, second)  # dropout stays in eval mode: deterministic
    batch_stats = _cnn()
    batch_stats.load_state_dict(reference)
    for m in batch_stats.modules():  # every BN layer normalises with the batch's own statistics
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats, m.running_mean, m.running_var = False, None, None
    batch_stats.eval()
    with torch.no_grad():
        assert torch.allclose(first, batch_stats(x), atol=1e-5)
        assert not torch.allclose(first, as_teacher(_cnn(), "eval", x)(x), atol=1e-3)
    assert all(not p.requires_grad for p in teacher.parameters())
    weights = {k: v for k, v in teacher.state_dict().items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(v, reference[k]) for k, v in weights.items())  # only statistics may move


def test_reestimated_teacher_statistics_are_the_training_split_statistics():
    x = torch.rand(40, 1, 8, 8)
    model = _cnn()
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    teacher = as_teacher(model, "reestimate", x)
    first_bn = teacher.features[0][1]
    with torch.no_grad():
        conv = teacher.features[0][0]((x - 0.5) / 0.25)
    assert torch.allclose(first_bn.running_mean, conv.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(first_bn.running_var, conv.var(dim=(0, 2, 3)), rtol=1e-3)
    assert not teacher.training
    changed = {k for k, v in teacher.state_dict().items() if not torch.equal(v, reference[k])}
    assert changed and all("running" in k or "num_batches" in k for k in changed)


def _round_input(server_round: int, state: ClientState | None = None) -> RoundInput:
    config = load_federated(TINY)
    data = load_client_data(config.federation(), 0)
    shape = (1, 8, 10)
    torch.manual_seed(1)
    weights = config.new_model(shape).state_dict()
    return RoundInput(weights, data, state or ClientState(RecordDict()), server_round, 0,
                      lambda: config.new_model(shape), {})


def test_the_round_one_global_teacher_can_be_skipped():
    client = FedCKDClient(FedCKDSettings(global_teacher_from_round=2), TrainSettings())
    assert list(client.teachers(_round_input(1), None)) == []
    assert list(client.teachers(_round_input(2), None)) == ["global"]


def test_local_normalisation_entries_round_trip_and_are_never_sent():
    first = _round_input(1)
    keys = norm_keys(first.new_model())
    assert keys and all(k.startswith("features.") for k in keys)
    assert {k.rsplit(".", 1)[1] for k in keys} == {"weight", "bias", "running_mean", "running_var",
                                                    "num_batches_tracked"}
    trained = {k: v + 1 for k, v in first.global_weights.items()}
    sent = keep_local_norm(first, trained)
    assert set(sent) == set(trained) - keys
    second = with_local_norm(_round_input(2, first.state))
    for key in keys:  # the client's own entries replace the server's
        assert torch.equal(second.global_weights[key], trained[key])
    assert first.state.get_model(LOCAL_NORM) is not None


def test_fedbn_clients_never_send_normalisation_layers_and_the_server_never_averages_them(tmp_path, monkeypatch):
    sent_keys: list[set[str]] = []
    original = inprocess.make_client_app

    def recording(source):
        app = original(source)

        def call(msg, context):
            reply = app(msg, context)
            if "arrays" in reply.content:
                sent_keys.append(set(reply.content["arrays"].keys()))
            return reply

        return call

    monkeypatch.setattr(inprocess, "make_client_app", recording)
    seen: list[ArrayRecord] = []
    config = load_federated([*TINY, "strategy=fedbn"])
    strategy_class = type(build_strategy(config))
    aggregate = strategy_class.aggregate_train

    def keep(self, server_round, replies):
        arrays, metrics = aggregate(self, server_round, replies)
        seen.append(arrays)
        return arrays, metrics

    monkeypatch.setattr(strategy_class, "aggregate_train", keep)
    run_in_process(config, output_root=tmp_path)
    torch.manual_seed(config.seed)
    keys = norm_keys(config.new_model((1, 8, 10)))
    assert len(sent_keys) == 6 and all(not (k & keys) for k in sent_keys)
    initial = seen[0].to_torch_state_dict()
    final = seen[-1].to_torch_state_dict()
    assert all(torch.equal(initial[k], final[k]) for k in keys)  # the server's copies never move
    assert any(not torch.equal(initial[k], final[k]) for k in set(final) - keys)


@pytest.mark.parametrize(("weight_key", "expected"), [(NUM_EXAMPLES, (30 * 1.0 + 10 * 4.0) / 40),
                                                      (UNIFORM_WEIGHT, (1.0 + 4.0) / 2)])
def test_uniform_and_example_weighted_aggregation(weight_key, expected):
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID
    strategy = LoggedFedAvg(fraction_train=1.0, min_train_nodes=2, min_available_nodes=2, weighted_by_key=weight_key)
    messages = list(strategy.configure_train(1, ArrayRecord({"w": torch.zeros(2)}), ConfigRecord(), _TwoNodeGrid()))
    replies = [Message(RecordDict({"arrays": ArrayRecord({"w": torch.full((2,), value)}),
                                   "metrics": MetricRecord({NUM_EXAMPLES: n, UNIFORM_WEIGHT: 1})}), reply_to=msg)
               for msg, value, n in zip(messages, (1.0, 4.0), (30, 10), strict=True)]
    merged, _ = strategy.aggregate_train(1, replies)
    assert torch.allclose(merged.to_torch_state_dict()["w"], torch.full((2,), expected))


def test_strategy_weighting_selects_the_aggregation_weight():
    assert build_strategy(load_federated([*TINY, "strategy.weighting=uniform"])).weighted_by_key == UNIFORM_WEIGHT
    assert build_strategy(load_federated(TINY)).weighted_by_key == NUM_EXAMPLES


def test_validation_split_is_disjoint_deterministic_and_leaves_the_test_split_alone():
    rows = np.arange(100, 160)
    settings = IidPartition(test_fraction=0.2, validation_fraction=0.25)
    train, validation, test = client_splits(rows, settings, seed=7)
    assert len(test) == 12 and len(validation) == 12 and len(train) == 36
    assert not (set(train) & set(validation) or set(train) & set(test) or set(validation) & set(test))
    assert sorted([*train, *validation, *test]) == list(rows)
    again = client_splits(rows, settings, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip((train, validation, test), again, strict=True))
    _, none, same_test = client_splits(rows, IidPartition(test_fraction=0.2, validation_fraction=0.0), seed=7)
    assert len(none) == 0 and np.array_equal(same_test, test)


def test_validation_evaluation_never_reads_the_test_rows(monkeypatch):
    config = load_federated([*TINY, "simulation.evaluate_split=validation", "partition.validation_fraction=0.2"])
    spec = config.federation()
    data, parts = prepare_federation(spec)
    requested: list[np.ndarray] = []
    original = ImageData.tensors
    monkeypatch.setattr(ImageData, "tensors", lambda self, rows: requested.append(rows) or original(self, rows))
    client = load_client_data(spec, 1)
    _, validation, test = client_splits(parts[1], config.partition, spec.seed * 100_003 + 1)
    assert client.evaluation_split == "validation"
    assert torch.equal(client.test_y, torch.from_numpy(data.labels[validation].astype(np.int64)))
    assert not set(np.concatenate(requested)) & set(test)


def test_validation_evaluation_needs_a_validation_split():
    message = r"simulation.evaluate_split='validation' is invalid; allowed: test while partition.validation_fraction=0"
    with pytest.raises(UserError, match=message):
        load_federated([*TINY, "simulation.evaluate_split=validation", "partition.validation_fraction=0"])


def test_the_pfedsd_preset_holds_the_reference_recipe():
    c = load_federated(["+experiment=pfedsd_reference"])
    assert (c.strategy.name, c.strategy.lambda_global, c.strategy.first_participation) == ("pfedsd", 0.0, "ce_only")
    assert (c.strategy.teacher_norm, c.strategy.weighting, c.model.normalize) == ("train", "uniform", False)
    assert (c.train.optimizer, c.train.lr, c.train.momentum, c.train.weight_decay) == ("sgd", 0.01, 0.9, 1e-5)
    assert (c.train.local_epochs, c.train.batch_size) == (5, 64)
    assert (c.simulation.num_clients, c.simulation.fraction_train) == (10, 0.6)
    assert (c.partition.name, c.partition.alpha, c.partition.test_fraction, c.partition.validation_fraction) == \
        ("dirichlet", 0.1, 0.2, 0.0)
    assert not norm_keys(c.new_model((1, 16, 10)))


def test_the_main_job_preset_is_fedckd_with_the_lr_face_workload_and_takes_overrides():
    c = load_federated(["+experiment=mission"])
    assert (c.strategy.name, c.workload.name, c.model.name, c.dataset.name) == ("fedckd", "face_kd", "lr_student",
                                                                                "faces")
    assert c.workload.score_keys() == ("verification_accuracy", "verification_tar")
    assert load_federated(["+experiment=mission", "strategy=fedavg"]).strategy.name == "fedavg"
