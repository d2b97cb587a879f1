"""One entry per FL method: everything `strategy=<name>` selects.

An entry names the client class and the server strategy, holds the method's default settings (its Hydra
config node), the loss terms its objective logs, and the
privacy modes it cannot run under. Adding a method is its own file(s) plus one `METHODS.add(...)` line;
its loss terms reach clients.csv from `loss_terms` (docs/architecture.md, "Add an FL method").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flwr.serverapp.strategy import Strategy

from fedkd.config.registry import Registry
from fedkd.methods.base import LocalMethod, MethodSettings
from fedkd.methods.ditto import PERSONAL_PASS, DittoClient, DittoSettings
from fedkd.methods.fedavg import FedAvgClient, FedAvgSettings, FedProxClient, FedProxSettings
from fedkd.methods.fedckd import TEACHERS, FedCKDClient, FedCKDSettings, teacher_accuracy_key
from fedkd.methods.finetune import FedAvgFineTuneClient, FineTuneSettings
from fedkd.methods.local_only import LocalOnlyClient, LocalOnlySettings
from fedkd.methods.personal_head import HEAD_PASS, FedPerClient, FedPerSettings, FedRepClient, FedRepSettings
from strategies.fedavg import LoggedFedAvg
from strategies.fedprox import LoggedFedProx


def no_options(settings: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class MethodEntry:
    client: type[LocalMethod]
    settings: MethodSettings                              # the defaults of strategy=<name>
    server: type[Strategy] = LoggedFedAvg                 # a Flower message-API strategy with ClientLogMixin
    server_options: Callable[[Any], dict[str, Any]] = no_options  # extra strategy arguments from the settings
    loss_terms: tuple[str, ...] = ()                      # objective terms besides "ce", logged as loss_<term>
    passes: tuple[str, ...] = ()                          # prefixes of further training passes it reports
    refuses: Mapping[str, str] = field(default_factory=dict)  # privacy mode -> why the method cannot run under it
    metrics: tuple[str, ...] = ()                         # further train-reply metrics it reports (diagnostics)


SEND_WHOLE_MODEL = "it keeps its head on the client; clipping needs the full update"

METHODS: Registry[MethodEntry] = Registry("strategy", lambda entry: entry.settings)
METHODS.add("fedavg", MethodEntry(FedAvgClient, FedAvgSettings()))
METHODS.add("fedbn", MethodEntry(FedAvgClient, FedAvgSettings(name="fedbn", local_norm=True)))
METHODS.add("fedavg_ft", MethodEntry(
    FedAvgFineTuneClient, FineTuneSettings(),
    refuses={"sample": "it fine-tunes on the private split at every evaluation, outside any planned budget"}))
METHODS.add("fedprox", MethodEntry(
    FedProxClient, FedProxSettings(), LoggedFedProx, lambda s: {"proximal_mu": s.proximal_mu},
    loss_terms=("proximal",)))
METHODS.add("local", MethodEntry(LocalOnlyClient, LocalOnlySettings()))
TEACHER_ACCURACY = tuple(teacher_accuracy_key(t) for t in TEACHERS)
METHODS.add("pfedsd", MethodEntry(
    FedCKDClient, FedCKDSettings(name="pfedsd", lambda_global=0.0, first_participation="ce_only", teacher_norm="train"),
    loss_terms=("kd_global", "kd_historical"), metrics=TEACHER_ACCURACY))
METHODS.add("fedckd", MethodEntry(FedCKDClient, FedCKDSettings(), loss_terms=("kd_global", "kd_historical"),
                                  metrics=TEACHER_ACCURACY))
METHODS.add("ditto", MethodEntry(
    DittoClient, DittoSettings(),
    loss_terms=("proximal",), passes=(PERSONAL_PASS,)))
METHODS.add("fedper", MethodEntry(FedPerClient, FedPerSettings(),
                                  refuses={"client": SEND_WHOLE_MODEL}))
METHODS.add("fedrep", MethodEntry(
    FedRepClient, FedRepSettings(),
    passes=(HEAD_PASS,), refuses={"client": SEND_WHOLE_MODEL}))
