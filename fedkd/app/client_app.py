"""ClientApp: the configured method's local update, and evaluation of the global and personal models."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import nn

from fedkd.app.run_config import config_from_context
from fedkd.data.federated import ClientData, load_client_data
from fedkd.data.node_data import read_partition
from fedkd.errors import UserError
from fedkd.faces.adabn import adapt_batchnorm
from fedkd.faces.federated_workload import adapts_batchnorm, client_extra_terms
from fedkd.methods import RoundInput, build_method
from fedkd.models.factory import Shape, build_model
from fedkd.privacy.client_level import central_dp_clipping_mod
from fedkd.privacy.sample_level import ClientBudget, PrivateTraining, SampleDPSettings
from fedkd.state.client_state import ClientState
from fedkd.training.local import ExtraTerms, evaluate

ConfigSource = Callable[[Context], dict[str, Any]]


@lru_cache(maxsize=256)
def _client_data(config_json: str, partition_id: int, data_file: str) -> tuple[ClientData, Shape | None]:
    """The node's own partition file in a deployment (`data-file` in its node config), else its split
    of the configured data set."""
    if data_file:
        return read_partition(data_file)
    return load_client_data(json.loads(config_json), partition_id), None


@lru_cache(maxsize=256)
def _extra_terms(config_json: str, partition_id: int, data_file: str) -> ExtraTerms | None:
    return client_extra_terms(json.loads(config_json), _client_data(config_json, partition_id, data_file)[0])


def _round_input(msg: Message, context: Context, config: dict[str, Any], phase_offset: int) -> RoundInput:
    torch.set_num_threads(max(1, int(config["simulation"]["client_cpus"])))
    partition_id = int(context.node_config["partition-id"])
    data_file = str(context.node_config.get("data-file", ""))
    config_json = json.dumps(config, sort_keys=True)
    data, shape = _client_data(config_json, partition_id, data_file)
    if data.partition_id != partition_id:
        raise UserError(f"data-file={data_file} holds partition {data.partition_id}, not partition-id={partition_id}")
    server_round = int(msg.content["config"].get("server-round", 0)) if "config" in msg.content else 0

    def new_model() -> nn.Module:
        return build_model(config, shape)

    return RoundInput(
        global_weights=msg.content["arrays"].to_torch_state_dict(),
        data=data,
        state=ClientState(context.state),
        server_round=server_round,
        seed=config["seed"] * 1_000_003 + server_round * 1_009 + partition_id * 2 + phase_offset,
        new_model=new_model,
        server_config=dict(msg.content["config"]) if "config" in msg.content else {},
        extra_terms=_extra_terms(config_json, partition_id, data_file),
    )


def _identity(round_input: RoundInput, started: float) -> dict[str, Any]:
    return {"partition-id": int(round_input.data.partition_id),
            "participations": int(round_input.state.counters()["participations"]),
            "seconds": time.perf_counter() - started}


def _budget(config: dict[str, Any], round_input: RoundInput, epochs: int) -> ClientBudget | None:
    settings = SampleDPSettings.from_config(config)
    if settings is None:
        return None
    return ClientBudget(settings, round_input.state, len(round_input.data.train_y), config["train"]["batch_size"],
                        epochs)


def _refusal(msg: Message, round_input: RoundInput, budget: ClientBudget, started: float) -> Message:
    """A client whose budget is spent sends the global weights back unchanged, marked as refused."""
    print(f"client {round_input.data.partition_id}: privacy budget spent ({budget.describe()}); not training",
          file=sys.stderr, flush=True)
    metrics = ({"num-examples": len(round_input.data.train_y), "uniform-weight": 1} | budget.metrics()
               | {"dp_steps": 0, "dp_exhausted": 1, "dp_refused": 1} | _identity(round_input, started))
    content = RecordDict({"arrays": ArrayRecord(round_input.global_weights), "metrics": MetricRecord(metrics)})
    return Message(content=content, reply_to=msg)


def make_client_app(config_source: ConfigSource = config_from_context) -> ClientApp:
    app = ClientApp()

    @app.train(mods=[central_dp_clipping_mod])
    def train(msg: Message, context: Context) -> Message:
        config = config_source(context)
        started = time.perf_counter()
        round_input = _round_input(msg, context, config, phase_offset=0)
        method = build_method(config)
        budget = _budget(config, round_input, method.epochs_per_participation())
        if budget is not None and budget.exhausted():
            return _refusal(msg, round_input, budget, started)
        if budget is not None:
            round_input.private = PrivateTraining(budget, round_input.seed)
        round_input.state.record_participation(round_input.server_round)
        weights, metrics = method.fit(round_input)
        metrics |= {"num-examples": len(round_input.data.train_y), "uniform-weight": 1}
        metrics |= _identity(round_input, started)
        if budget is not None:
            metrics |= budget.metrics() | {"dp_steps": round_input.private.steps_this_round,
                                           "dp_exhausted": int(budget.exhausted()), "dp_refused": 0}
        content = RecordDict({"arrays": ArrayRecord(weights), "metrics": MetricRecord(metrics)})
        return Message(content=content, reply_to=msg)

    @app.evaluate()
    def evaluate_models(msg: Message, context: Context) -> Message:
        config = config_source(context)
        started = time.perf_counter()
        round_input = _round_input(msg, context, config, phase_offset=1)
        method = build_method(config)
        data = round_input.data
        global_model = round_input.global_model()
        metrics: dict[str, Any] = {}
        personal = method.personal_model(round_input, global_model)
        if adapts_batchnorm(config):
            for model in {id(global_model): global_model, id(personal): personal}.values():
                adapt_batchnorm(model, data.test_x)
        if method.shares_global_model:
            metrics |= {f"global_{k}": v for k, v in evaluate(global_model, data.test_x, data.test_y).items()}
        if personal is global_model and method.shares_global_model:
            metrics |= {"personal_loss": metrics["global_loss"], "personal_accuracy": metrics["global_accuracy"]}
        else:
            metrics |= {f"personal_{k}": v for k, v in evaluate(personal, data.test_x, data.test_y).items()}
        metrics |= {"num-examples": len(data.test_y), "uniform-weight": 1} | _identity(round_input, started)
        return Message(content=RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)

    return app


app = make_client_app()
