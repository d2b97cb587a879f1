"""The ClientApp Flower loads (`[tool.flwr.app.components]` in pyproject.toml): fedkd's client
(client_app.py) in this process, or, on a SuperNode whose node config has `client-worker="warm"`, in the
node's long-lived worker process (warm_worker.py). This module imports neither torch nor the rest of fedkd,
so that a ClientApp process that hands its message to the warm worker starts in well under a second."""

from __future__ import annotations

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from fedkd.app.timing_log import mark, process_started_at
from fedkd.errors import UserError
from fedkd.protocol.instructions import SERVER_ROUND
from fedkd.protocol.run_config import CLIENT_WORKER, CLIENT_WORKERS, PARTITION_ID, PER_MESSAGE, WARM

app = ClientApp()


def _server_round(msg: Message) -> int:
    return int(msg.content["config"].get(SERVER_ROUND, 0)) if msg.has_content() and "config" in msg.content else 0


def _handle(msg: Message, context: Context) -> Message:
    mode = str(context.node_config.get(CLIENT_WORKER, PER_MESSAGE))
    if mode not in CLIENT_WORKERS:
        raise UserError(f"{CLIENT_WORKER}={mode} is invalid; allowed: {' | '.join(CLIENT_WORKERS)} (node config)")
    where = {"phase": msg.metadata.message_type, "round": _server_round(msg),
             "partition": int(context.node_config.get(PARTITION_ID, -1)), "mode": mode}
    mark("client_start", process_started=process_started_at(), **where)
    if mode == WARM:
        from fedkd.app.warm_worker import call_worker
        reply = call_worker(msg, context)
    else:
        from fedkd.app.client_app import app as fedkd_client
        reply = fedkd_client(msg, context)
    mark("client_end", **where)
    return reply


@app.query()
def query(msg: Message, context: Context) -> Message:
    return _handle(msg, context)


@app.train()
def train(msg: Message, context: Context) -> Message:
    return _handle(msg, context)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    return _handle(msg, context)
