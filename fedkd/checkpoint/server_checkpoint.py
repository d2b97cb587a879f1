"""The server's checkpoint of one round: everything `run_federation` needs to go on as if never stopped.

A file `<run>/checkpoints/round-<k>.ckpt` (written and checked by fedkd/checkpoint/checked_file.py) holds the
global arrays, the strategy object (whatever it keeps between rounds: FedProx's μ, the DP wrapper's current
clipping norm, ...), the privacy tracker (the client-level accountant's history), the rows of rounds.csv,
the sizes of the metric files at that round, the states of every random-number generator the server draws
from, and which state file of each client belongs to this round (also in the header, for pruning).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedkd.checkpoint.checked_file import encode_checked, read_checked, read_header, write_encoded

_NAME = re.compile(r"round-(\d+)\.ckpt")


def rng_states(sampling: random.Random) -> dict[str, Any]:
    """The server's generators: node sampling's own, and the global Python, NumPy and torch ones."""
    return {"sampling": sampling.getstate(), "python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def restore_rng_states(states: dict[str, Any], sampling: random.Random) -> None:
    sampling.setstate(states["sampling"])
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


@dataclass
class ServerCheckpoint:
    server_round: int
    arrays: dict[str, np.ndarray]
    strategy: Any
    privacy: Any
    rounds: list[dict[str, Any]]
    log_sizes: dict[str, int]
    rng: dict[str, Any]
    client_rounds: dict[int, int] = field(default_factory=dict)  # partition → round of its state file


def checkpoint_path(directory: Path, server_round: int) -> Path:
    return directory / f"round-{server_round:06d}.ckpt"


def checkpoint_files(directory: Path) -> list[tuple[int, Path]]:
    """(round, path) of every checkpoint in `directory`, oldest first."""
    found = [(int(m[1]), p) for p in directory.glob("round-*.ckpt") if (m := _NAME.fullmatch(p.name))]
    return sorted(found)


@dataclass
class EncodedCheckpoint:
    """A checkpoint pickled at the end of its round (the strategy and privacy objects change in the next one), to be
    written later by another thread."""

    server_round: int
    client_rounds: dict[int, int]
    blob: bytes

    @classmethod
    def of(cls, checkpoint: ServerCheckpoint) -> EncodedCheckpoint:
        return cls(checkpoint.server_round, dict(checkpoint.client_rounds), encode_checked(checkpoint))


def write_checkpoint(directory: Path, fingerprint: str, checkpoint: ServerCheckpoint | EncodedCheckpoint
                     ) -> tuple[Path, int]:
    """Write atomically; returns the path and its size in bytes."""
    encoded = checkpoint if isinstance(checkpoint, EncodedCheckpoint) else EncodedCheckpoint.of(checkpoint)
    target = checkpoint_path(directory, encoded.server_round)
    size = write_encoded(target, fingerprint, encoded.blob, {
        "round": encoded.server_round, "clients": {str(p): r for p, r in sorted(encoded.client_rounds.items())}})
    return target, size


def read_checkpoint(path: Path, fingerprint: str) -> ServerCheckpoint:
    """The checkpoint at `path`, after checking its format, its config and its checksum."""
    return read_checked(path, fingerprint, ServerCheckpoint,
                        f"delete {path.name} to resume from the checkpoint before it, or start the run again",
                        "resume with the run's own config (fedkd-sim resume=RUN_DIR reads it from the run)")



def prune_checkpoints(directory: Path, keep: int) -> set[tuple[int, int]]:
    """Delete all but the newest `keep` checkpoints; returns the (partition, round) client state files the
    remaining ones refer to."""
    files = checkpoint_files(directory)
    for _, path in files[:-keep]:
        path.unlink(missing_ok=True)
    referenced: set[tuple[int, int]] = set()
    for _, path in files[-keep:]:
        header = read_header(path) or {}
        referenced |= {(int(p), int(r)) for p, r in header.get("clients", {}).items()}
    return referenced
