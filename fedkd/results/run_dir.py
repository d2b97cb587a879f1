"""One directory per run: resolved config, per-round and per-client metrics, summary.

The directory is written as `<name>.incomplete` and renamed to its final name only when the run
succeeds (or to `<name>.failed` when it raises), so nothing half-written looks like a result.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROUND_COLUMNS = (
    "round", "train_loss", "train_accuracy",
    "personal_loss", "personal_accuracy", "personal_accuracy_client_mean", "personal_accuracy_client_std",
    "personal_accuracy_worst10", "personal_accuracy_unseen",
    "global_loss", "global_accuracy", "global_accuracy_client_mean", "global_accuracy_client_std",
    "global_accuracy_worst10", "global_accuracy_unseen",
    "clients_trained", "clients_evaluated", "clients_unseen", "seconds",
)
CLIENT_COLUMNS = (
    "round", "phase", "partition_id", "node_id", "num_examples", "participations",
    "train_loss", "train_accuracy", "loss_ce", "loss_kd_global", "loss_kd_historical", "loss_proximal",
    "personal_loss", "personal_accuracy", "global_loss", "global_accuracy", "seconds",
)


class RunDirectory:
    def __init__(self, root: Path, name: str, extra_client_columns: tuple[str, ...] = (),
                 extra_round_columns: tuple[str, ...] = ()) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{name}"
        suffix = 1
        while (root / base).exists() or (root / f"{base}.incomplete").exists():
            suffix += 1
            base = f"{stamp}-{name}-{suffix}"
        self.final_path = root / base
        self.path = root / f"{base}.incomplete"
        self.path.mkdir(parents=True)
        self._rounds = self._open_csv("rounds.csv", ROUND_COLUMNS[:-1] + extra_round_columns + ROUND_COLUMNS[-1:])
        self._clients = self._open_csv("clients.csv", CLIENT_COLUMNS[:-5] + extra_client_columns
                                       + CLIENT_COLUMNS[-5:])

    def _open_csv(self, name: str, columns: tuple[str, ...]) -> tuple[Any, csv.DictWriter]:
        fh = open(self.path / name, "w", newline="")  # noqa: SIM115 - closed in finish()/fail()
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        return fh, writer

    def write_config(self, config: Mapping[str, Any]) -> None:
        (self.path / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False))

    def write_json(self, name: str, content: Mapping[str, Any]) -> None:
        (self.path / name).write_text(json.dumps(content, indent=2))

    def append_round(self, row: Mapping[str, Any]) -> None:
        fh, writer = self._rounds
        writer.writerow(row)
        fh.flush()

    def append_clients(self, rows: list[Mapping[str, Any]]) -> None:
        fh, writer = self._clients
        writer.writerows(rows)
        fh.flush()

    def _close(self) -> None:
        for fh, _ in (self._rounds, self._clients):
            fh.close()

    def finish(self, summary: Mapping[str, Any], table: str) -> Path:
        self._close()
        (self.path / "summary.json").write_text(json.dumps(summary, indent=2))
        (self.path / "summary.md").write_text(table + "\n")
        self.path.rename(self.final_path)
        self.path = self.final_path
        return self.final_path

    def fail(self, reason: str) -> Path:
        self._close()
        (self.path / "error.txt").write_text(reason + "\n")
        failed = self.final_path.with_name(self.final_path.name + ".failed")
        self.path.rename(failed)
        self.path = failed
        return failed
