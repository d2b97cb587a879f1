"""Writes a federated run's checkpoints at the rounds `checkpoint.every` names (and when a stop is asked),
keeps the newest `checkpoint.keep`, and deletes the client state files that no kept checkpoint uses.

The checkpoint is pickled at the end of its round; writing, fsyncing and pruning then run on a writer thread while
the next round goes on (about 0.08 s of every round of the default job, during which the workers had waited).
The next checkpoint, a stop, the run's end and a failure all wait for that write first; its error surfaces there."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fedkd.checkpoint.client_files import CHECKPOINT_DIR, RESUME_ROUND, clients_dir, prune_client_states, state_file
from fedkd.checkpoint.interrupts import STOP, Interrupted
from fedkd.checkpoint.server_checkpoint import EncodedCheckpoint, ServerCheckpoint, prune_checkpoints, write_checkpoint
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
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

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
                self.settle()
                raise Interrupted(self.run_path, f"round {server_round}", STOP.signal or 0)
            return
        checkpoint = make()
        checkpoint.client_rounds = dict(self.client_rounds)
        encoded = EncodedCheckpoint.of(checkpoint)
        self.settle()
        if stopping:
            self._write(encoded)
            raise Interrupted(self.run_path, f"round {server_round}", STOP.signal or 0)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedkd-checkpoint")
        self._pending = self._writer.submit(self._write, encoded)

    def _write(self, encoded: EncodedCheckpoint) -> None:
        path, server_bytes = write_checkpoint(self.directory, self.fingerprint, encoded)
        referenced = prune_checkpoints(self.directory, self.settings.keep)
        prune_client_states(clients_dir(self.directory), referenced, encoded.server_round)
        client_bytes = sum(state_file(clients_dir(self.directory), p, r).stat().st_size
                           for p, r in encoded.client_rounds.items()
                           if state_file(clients_dir(self.directory), p, r).exists())
        self.last = {"round": encoded.server_round, "server_bytes": server_bytes, "client_bytes": client_bytes,
                     "path": str(path)}
        print(f"checkpoint after round {encoded.server_round}: {path.name} {server_bytes / 1e6:.2f} MB + client "
              f"states {client_bytes / 1e6:.2f} MB", file=sys.stderr, flush=True)

    def settle(self, failing: bool = False) -> None:
        """Wait for the checkpoint being written; raise its error unless the run is `failing` already."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        if failing:
            pending.exception()
        else:
            pending.result()

    def finish(self) -> dict[str, Any]:
        """The run is complete: delete its checkpoints (nothing is left to resume); returns the last one's
        sizes for the summary."""
        self.settle()
        if self._writer is not None:
            self._writer.shutdown()
        if self.directory.is_dir():
            shutil.rmtree(self.directory)
        return {k: v for k, v in self.last.items() if k != "path"}
