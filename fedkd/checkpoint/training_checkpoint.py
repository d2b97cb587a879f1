"""Epoch checkpoints of the long trainings of `fedkd-gen` and `fedkd-faces`.

Each training stage of a run (the score network's pretraining and its private training, DP-SGD included;
a face teacher, assistant, bridge or student) keeps one file `<run>/checkpoints/stage-<name>.ckpt`, rewritten
every `checkpoint.every` epochs and when SIGINT/SIGTERM asks the run to stop (it then stops with exit code
130 and the run directory stays `.incomplete`). A file holds the epoch reached, the stage's history rows,
the state of every stateful part the loop names (model, optimizer, schedule, EMA, its batch-order generator,
the DP accountant) and the global Python, NumPy, torch (and CUDA) random states, so a resumed stage draws
the same batches and the same noise as one that never stopped. A finished stage keeps its file until the
run finishes, so a resumed run skips it; a finished run deletes its checkpoints.

The run's command installs the checkpoints for the duration of its work (`active(...)`); a training loop
asks for its stage with `stage_checkpoint(name)`, which is None when nothing is installed (tests, the
tuner, a cached pretraining) or `checkpoint.every=0`.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedkd.checkpoint.checked_file import read_checked, write_checked
from fedkd.checkpoint.checkpointer import CHECKPOINTS
from fedkd.checkpoint.interrupts import STOP, Interrupted
from fedkd.config.fields import at_least, setting


@dataclass
class EpochCheckpointSettings:
    """`checkpoint` of fedkd-gen and fedkd-faces."""

    every: int = setting(1, at_least(0), help="epochs (DP-MERF: blocks of 100 generator steps) between checkpoints "
                         "of each training stage (0: none, the run cannot be resumed); SIGINT/SIGTERM also write one "
                         "at the end of the running epoch")

    @property
    def enabled(self) -> bool:
        return self.every > 0


@dataclass
class StageState:
    epoch: int
    history: list[dict[str, Any]]
    parts: dict[str, Any]
    rng: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _global_rng() -> dict[str, Any]:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_global_rng(states: Mapping[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _state_of(part: Any) -> Any:
    return part.get_state() if isinstance(part, torch.Generator) else part.state_dict()


def _load_into(part: Any, state: Any) -> None:
    if isinstance(part, torch.Generator):
        part.set_state(state)
    else:
        part.load_state_dict(state)


def _damaged_fix(path: Path) -> str:
    return f"delete {path.name} to train that stage again, or start the run again"


def _resume_hint(command: str) -> str:
    return f"resume with the run's own config ({command} resume=RUN_DIR)"


class StageCheckpoint:
    """The checkpoint file of one training stage."""

    def __init__(self, owner: TrainingCheckpoints, name: str) -> None:
        self.owner, self.name = owner, name
        self.path = owner.directory / f"stage-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.ckpt"

    def resume(self, parts: Mapping[str, Any]) -> StageState | None:
        """Load the stage's saved state into `parts` and the global generators; None when it has none."""
        if not self.path.exists():
            return None
        saved = read_checked(self.path, self.owner.fingerprint, StageState, _damaged_fix(self.path),
                             _resume_hint(self.owner.command))
        if set(saved.parts) != set(parts):
            raise RuntimeError(f"{self.path.name} holds {sorted(saved.parts)}, the loop has {sorted(parts)}")
        for key, part in parts.items():
            _load_into(part, saved.parts[key])
        _restore_global_rng(saved.rng)
        print(f"resuming {self.name} after epoch {saved.epoch}", file=sys.stderr, flush=True)
        return saved

    def end_of_epoch(self, epoch: int, epochs: int, parts: Mapping[str, Any], history: list[dict[str, Any]],
                     extra: Mapping[str, Any] | None = None) -> None:
        """Write the stage's state when due, when the stage is done, or when a stop was asked (then raise
        `Interrupted`)."""
        stopping = STOP.requested
        if epoch % self.owner.every == 0 or epoch >= epochs or stopping:
            state = StageState(epoch, list(history), {k: _state_of(p) for k, p in parts.items()}, _global_rng(),
                               dict(extra or {}))
            size = write_checked(self.path, self.owner.fingerprint, state, {"stage": self.name, "epoch": epoch})
            self.owner.sizes[self.name] = size
        if stopping:
            raise Interrupted(self.owner.run_path, f"epoch {epoch} of {self.name}", STOP.signal or 0,
                              self.owner.command)


class TrainingCheckpoints:
    """The stage checkpoints of one run."""

    def __init__(self, run_path: Path, fingerprint: str, every: int, command: str) -> None:
        self.run_path, self.fingerprint, self.every, self.command = run_path, fingerprint, every, command
        self.directory = run_path / CHECKPOINTS
        self.sizes: dict[str, int] = {}

    def verify(self) -> None:
        """Read every stage file of the run (before it is reopened): a damaged or foreign one is refused now,
        with the run directory untouched."""
        for path in sorted(self.directory.glob("stage-*.ckpt")):
            read_checked(path, self.fingerprint, StageState, _damaged_fix(path), _resume_hint(self.command))

    def summary(self) -> dict[str, int]:
        """Bytes of each stage's last checkpoint, for the run's summary."""
        return dict(self.sizes)


_ACTIVE: ContextVar[TrainingCheckpoints | None] = ContextVar("fedkd_training_checkpoints", default=None)


@contextmanager
def active(checkpoints: TrainingCheckpoints | None) -> Iterator[None]:
    token = _ACTIVE.set(checkpoints)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def stage_checkpoint(name: str) -> StageCheckpoint | None:
    """The checkpoint of the training stage `name` of the running command; None when it checkpoints nothing."""
    checkpoints = _ACTIVE.get()
    return None if checkpoints is None else StageCheckpoint(checkpoints, name)
