"""Writes a federated run's checkpoints at the rounds `checkpoint.every` names (and when a stop is asked),
keeps the newest `checkpoint.keep`, and deletes the client state files that no kept checkpoint uses."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fedkd.checkpoint.client_files import CHECKPOINT_DIR, RESUME_ROUND, clients_dir, prune_client_states, state_file
from fedkd.checkpoint.interrupts import STOP, Interrupted
from fedkd.checkpoint.server_checkpoint import ServerCheckpoint, prune_checkpoints, write_checkpoint
from fedkd.checkpoint.settings import CheckpointSettings

CHECKPOINTS = "checkpoints"


def checkpoints_dir(run_path: Path) -> Path:
    return run_path / CHECKPOINTS


class Checkpointer:
    def __init__(self, settings: CheckpointSettings, run_path: Path, fingerprint: str, num_rounds: int,
                 resumed: ServerCheckpoint | None = None) -> None:
        self.settings, self.run_path, self.fingerprint, self.num_rounds = settings, run_path, fingerprint, num_rounds
        self.directory = checkpoints_dir(run_path)
        self.resume_round = resumed.server_round if resumed else 0
        self.client_rounds: dict[int, int] = dict(resumed.client_rounds) if resumed else {}
        self.last: dict[str, Any] = {}

    def instructions(self) -> dict[str, Any]:
        """Keys for the train and evaluate ConfigRecords: where clients write their states, and whether they
        restore one."""
        if not self.settings.enabled:
            return {}
        return {CHECKPOINT_DIR: str(clients_dir(self.directory).resolve()), RESUME_ROUND: self.resume_round}

    def end_of_round(self, server_round: int, trained: Iterable[int], make: Callable[[], ServerCheckpoint]) -> None:
        """Record which clients trained in this round; write a checkpoint when one is due or a stop was asked
        (then raise `Interrupted`)."""
        for partition in trained:
            self.client_rounds[int(partition)] = server_round
        stopping = STOP.requested and server_round < self.num_rounds
        if not (self.settings.due(server_round, self.num_rounds) or (stopping and self.settings.enabled)):
            if stopping:
                raise Interrupted(self.run_path, f"round {server_round}", STOP.signal or 0)
            return
        checkpoint = make()
        checkpoint.client_rounds = dict(self.client_rounds)
        path, server_bytes = write_checkpoint(self.directory, self.fingerprint, checkpoint)
        referenced = prune_checkpoints(self.directory, self.settings.keep)
        prune_client_states(clients_dir(self.directory), referenced, server_round)
        client_bytes = sum(state_file(clients_dir(self.directory), p, r).stat().st_size
                           for p, r in self.client_rounds.items()
                           if state_file(clients_dir(self.directory), p, r).exists())
        self.last = {"round": server_round, "server_bytes": server_bytes, "client_bytes": client_bytes,
                     "path": str(path)}
        print(f"checkpoint after round {server_round}: {path.name} {server_bytes / 1e6:.2f} MB + client states "
              f"{client_bytes / 1e6:.2f} MB", file=sys.stderr, flush=True)
        if stopping:
            raise Interrupted(self.run_path, f"round {server_round}", STOP.signal or 0)

    def finish(self) -> dict[str, Any]:
        """The run is complete: delete its checkpoints (nothing is left to resume); returns the last one's
        sizes for the summary."""
        if self.directory.is_dir():
            shutil.rmtree(self.directory)
        return {k: v for k, v in self.last.items() if k != "path"}
