"""ClientApp: the configured method's local update, and evaluation of the global and personal models."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import nn

from fedkd.app.audited_client import is_audited, with_canaries
from fedkd.app.experiment_config import FederatedConfig
from fedkd.app.ordered_grid import partition_query_reply
from fedkd.app.run_audit import canary_norm
from fedkd.app.run_config import config_from_context
from fedkd.checkpoint.client_files import CHECKPOINT_DIR, restore_once, save_client_state
from fedkd.data.federated import ClientData, FederationSpec, data_shape, load_client_data
from fedkd.data.image_data import DataShape
from fedkd.data.node_data import read_partition
from fedkd.errors import UserError
from fedkd.methods.base import RoundInput
from fedkd.methods.local_norm import keep_local_norm, norm_keys, with_local_norm
from fedkd.privacy.client_level import central_dp_clipping_mod
from fedkd.privacy.sample_level import ClientBudget, PrivateTraining, SampleDPSettings
from fedkd.protocol import reply
from fedkd.protocol.instructions import SERVER_ROUND
from fedkd.protocol.run_config import DATA_FILE, PARTITION_ID
from fedkd.state.client_state import ClientState
from fedkd.training.adabn import adapt_batchnorm
from fedkd.training.local import ExtraTerms, evaluate

ConfigSource = Callable[[Context], FederatedConfig]
_DATA: dict[tuple[str, int, str], tuple[ClientData, DataShape]] = {}   # per process, by (federation, client, file)
_TERMS: dict[tuple[str, int, str], ExtraTerms | None] = {}


def _client_data(spec: FederationSpec, partition_id: int, data_file: str) -> tuple[ClientData, DataShape]:
    """The node's own partition file in a deployment (`data-file` in its node config), else its split
    of the configured data set; with the shape of the data a model sees."""
    key = (spec.key(), partition_id, data_file)
    if key not in _DATA:
        _DATA[key] = read_partition(data_file, partition_id) if data_file else \
            (load_client_data(spec, partition_id), data_shape(spec))
    return _DATA[key]


def _extra_terms(config: FederatedConfig, spec: FederationSpec, partition_id: int, data_file: str,
                 data: ClientData) -> ExtraTerms | None:
    key = (spec.key() + repr(config.workload), partition_id, data_file)
    if key not in _TERMS:
        _TERMS[key] = config.workload.client_terms(spec, data)
    return _TERMS[key]


def _round_input(msg: Message, context: Context, config: FederatedConfig, phase_offset: int) -> RoundInput:
    torch.set_num_threads(max(1, int(config.simulation.client_cpus)))
    partition_id = int(context.node_config[PARTITION_ID])
    data_file = str(context.node_config.get(DATA_FILE, ""))
    spec = config.federation()
    data, shape = _client_data(spec, partition_id, data_file)
    if data.partition_id != partition_id:
        raise UserError(f"{DATA_FILE}={data_file} holds partition {data.partition_id}, not "
                        f"{PARTITION_ID}={partition_id}")
    server_config = dict(msg.content["config"]) if "config" in msg.content else {}
    server_round = int(server_config.get(SERVER_ROUND, 0))
    restore_once(context.state, server_config, partition_id)

    def new_model() -> nn.Module:
        return config.new_model(shape)

    return RoundInput(
        global_weights=msg.content["arrays"].to_torch_state_dict(),
        data=data,
        state=ClientState(context.state),
        server_round=server_round,
        seed=config.seed * 1_000_003 + server_round * 1_009 + partition_id * 2 + phase_offset,
        new_model=new_model,
        server_config=server_config,
        extra_terms=_extra_terms(config, spec, partition_id, data_file, data),
    )


def _identity(round_input: RoundInput, started: float) -> dict[str, Any]:
    return {reply.PARTITION_ID: int(round_input.data.partition_id),
            reply.PARTICIPATIONS: int(round_input.state.counters()["participations"]),
            reply.SECONDS: time.perf_counter() - started}


def _weights(num_examples: int) -> dict[str, Any]:
    return {reply.NUM_EXAMPLES: num_examples, reply.UNIFORM_WEIGHT: 1}


def _budget(config: FederatedConfig, round_input: RoundInput, epochs: int) -> ClientBudget | None:
    privacy = config.privacy
    if not isinstance(privacy, SampleDPSettings):
        return None
    planned = privacy.planned(config.num_rounds, config.simulation.fraction_train)
    return ClientBudget(privacy, planned, round_input.state, len(round_input.data.train_y), config.train.batch_size,
                        epochs)


def _refusal(msg: Message, round_input: RoundInput, budget: ClientBudget, started: float,
             local_norm: bool) -> Message:
    """A client whose budget is spent sends the global weights back unchanged, marked as refused."""
    print(f"client {round_input.data.partition_id}: privacy budget spent ({budget.describe()}); not training",
          file=sys.stderr, flush=True)
    metrics = (_weights(len(round_input.data.train_y)) | budget.metrics()
               | {reply.DP_STEPS: 0, reply.DP_EXHAUSTED: 1, reply.DP_REFUSED: 1} | _identity(round_input, started))
    keys = norm_keys(round_input.new_model()) if local_norm else frozenset()
    sent = {k: v for k, v in round_input.global_weights.items() if k not in keys}
    content = RecordDict({"arrays": ArrayRecord(sent), "metrics": MetricRecord(metrics)})
    return Message(content=content, reply_to=msg)


def _save_state(round_input: RoundInput, context: Context) -> None:
    """With checkpoints on, write this client's state after its training (before it replies)."""
    directory = str(round_input.server_config.get(CHECKPOINT_DIR, ""))
    if directory:
        save_client_state(context.state, Path(directory), int(round_input.data.partition_id),
                          round_input.server_round)


def make_client_app(config_source: ConfigSource = config_from_context) -> ClientApp:
    app = ClientApp()

    @app.query()
    def partition(msg: Message, context: Context) -> Message:
        return partition_query_reply(msg, int(context.node_config[PARTITION_ID]))

    @app.train(mods=[central_dp_clipping_mod])
    def train(msg: Message, context: Context) -> Message:
        config = config_source(context)
        started = time.perf_counter()
        round_input = _round_input(msg, context, config, phase_offset=0)
        if is_audited(config.audit, round_input.data.partition_id):
            round_input = with_canaries(round_input, config.audit, data_shape(config.federation()),
                                        canary_norm(config))
        local_norm = config.strategy.local_norm
        if local_norm:
            round_input = with_local_norm(round_input)
        method = config.local_method()
        budget = _budget(config, round_input, method.epochs_per_participation())
        if budget is not None and budget.exhausted():
            _save_state(round_input, context)
            return _refusal(msg, round_input, budget, started, local_norm)
        if budget is not None:
            round_input.private = PrivateTraining(budget, round_input.seed, broken_no_noise=config.audit.enabled
                                                  and config.audit.break_dp == "no_noise")
        round_input.state.record_participation(round_input.server_round)
        weights, metrics = method.fit(round_input)
        if local_norm:
            weights = keep_local_norm(round_input, weights)
        metrics |= _weights(len(round_input.data.train_y))
        metrics |= _identity(round_input, started)
        if budget is not None and round_input.private is not None:
            metrics |= budget.metrics() | {reply.DP_STEPS: round_input.private.steps_this_round,
                                           reply.DP_EXHAUSTED: int(budget.exhausted()), reply.DP_REFUSED: 0}
        _save_state(round_input, context)
        content = RecordDict({"arrays": ArrayRecord(weights), "metrics": MetricRecord(metrics)})
        return Message(content=content, reply_to=msg)

    @app.evaluate()
    def evaluate_models(msg: Message, context: Context) -> Message:
        config = config_source(context)
        started = time.perf_counter()
        round_input = _round_input(msg, context, config, phase_offset=1)
        if config.strategy.local_norm:
            round_input = with_local_norm(round_input)
        method = config.local_method()
        data = round_input.data
        global_model = round_input.global_model()
        metrics: dict[str, Any] = {}
        personal = method.personal_model(round_input, global_model)
        if config.workload.adapts_batchnorm:
            for model in {id(global_model): global_model, id(personal): personal}.values():
                adapt_batchnorm(model, data.test_x)
        if method.shares_global_model:
            scores = evaluate(global_model, data.test_x, data.test_y)
            metrics |= {reply.GLOBAL_LOSS: scores["loss"], reply.GLOBAL_ACCURACY: scores["accuracy"]}
        if personal is global_model and method.shares_global_model:
            metrics |= {reply.PERSONAL_LOSS: metrics[reply.GLOBAL_LOSS],
                        reply.PERSONAL_ACCURACY: metrics[reply.GLOBAL_ACCURACY]}
        else:
            scores = evaluate(personal, data.test_x, data.test_y)
            metrics |= {reply.PERSONAL_LOSS: scores["loss"], reply.PERSONAL_ACCURACY: scores["accuracy"]}
        scores = config.workload.score(config.federation(), personal)
        metrics |= {f"{reply.PERSONAL_PREFIX}{k}": v for k, v in scores.items()}
        metrics |= _weights(len(data.test_y)) | _identity(round_input, started)
        return Message(content=RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)

    return app


app = make_client_app()
