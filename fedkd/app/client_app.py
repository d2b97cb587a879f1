"""ClientApp: local training and evaluation of the received global model on the own partition."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedkd.app.run_config import config_from_context
from fedkd.data.federated import ClientData, input_shape, load_client_data, num_classes
from fedkd.models.factory import build_model
from fedkd.state.client_state import ClientState
from fedkd.training.local import evaluate, train_local

ConfigSource = Callable[[Context], dict[str, Any]]


@lru_cache(maxsize=256)
def _client_data(config_json: str, partition_id: int) -> ClientData:
    return load_client_data(json.loads(config_json), partition_id)


def _setup(msg: Message, context: Context, config: dict[str, Any]) -> tuple[torch.nn.Module, ClientData, int]:
    torch.set_num_threads(max(1, int(config["simulation"]["client_cpus"])))
    partition_id = int(context.node_config["partition-id"])
    data = _client_data(json.dumps(config, sort_keys=True), partition_id)
    channels, _ = input_shape(config)
    model = build_model(config["model"], channels, num_classes(config))
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    return model, data, partition_id


def make_client_app(config_source: ConfigSource = config_from_context) -> ClientApp:
    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        config = config_source(context)
        started = time.perf_counter()
        model, data, partition_id = _setup(msg, context, config)
        server_round = int(msg.content["config"]["server-round"])
        participations = ClientState(context.state).record_participation(server_round)
        seed = config["seed"] * 1_000_003 + server_round * 1_009 + partition_id
        metrics = train_local(model, data.train_x, data.train_y, config["train"], seed)
        metrics |= {"num-examples": len(data.train_y), "partition-id": partition_id,
                    "participations": participations, "seconds": time.perf_counter() - started}
        content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": MetricRecord(metrics)})
        return Message(content=content, reply_to=msg)

    @app.evaluate()
    def evaluate_global(msg: Message, context: Context) -> Message:
        config = config_source(context)
        started = time.perf_counter()
        model, data, partition_id = _setup(msg, context, config)
        metrics = evaluate(model, data.test_x, data.test_y)
        participations = int(ClientState(context.state).counters()["participations"])
        metrics |= {"num-examples": len(data.test_y), "partition-id": partition_id,
                    "participations": participations, "seconds": time.perf_counter() - started}
        return Message(content=RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)

    return app


app = make_client_app()
