"""Client-side methods of the personalized-FL comparison, one per file, selected by `strategy.name`."""

from __future__ import annotations

from typing import Any

from fedkd.methods.base import LocalMethod, RoundInput
from fedkd.methods.ditto import DittoClient
from fedkd.methods.fedavg import FedAvgClient, FedProxClient
from fedkd.methods.fedckd import FedCKDClient
from fedkd.methods.finetune import FedAvgFineTuneClient
from fedkd.methods.local_only import LocalOnlyClient
from fedkd.methods.personal_head import FedPerClient, FedRepClient

CLIENT_METHODS: dict[str, type[LocalMethod]] = {
    "fedavg": FedAvgClient,
    "fedavg_ft": FedAvgFineTuneClient,
    "fedprox": FedProxClient,
    "local": LocalOnlyClient,
    "pfedsd": FedCKDClient,
    "fedckd": FedCKDClient,
    "ditto": DittoClient,
    "fedper": FedPerClient,
    "fedrep": FedRepClient,
}


def build_method(config: dict[str, Any]) -> LocalMethod:
    return CLIENT_METHODS[config["strategy"]["name"]](config)


__all__ = ["CLIENT_METHODS", "LocalMethod", "RoundInput", "build_method"]
