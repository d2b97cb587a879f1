"""The server's checkpoint of one round: everything `run_federation` needs to go on as if never stopped.

A file `<run>/checkpoints/round-<k>.ckpt` holds a magic line, a JSON header line (state format, the
config's fingerprint, the round, the payload's size and SHA-256) and the pickled payload: the global
arrays, the strategy object (whatever it keeps between rounds: FedProx's μ, the DP wrapper's current
clipping norm, ...), the privacy tracker (the client-level accountant's history), the rows of rounds.csv,
the sizes of the metric files at that round, the states of every random-number generator the server draws
from, and which state file of each client belongs to this round. Files are written to a temporary name and
renamed, so a kill leaves either the old checkpoint or the new one, never half of one. A checkpoint of another
config or state format, or one whose bytes do not match its checksum, is refused in one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedkd.errors import UserError

STATE_FORMAT = 1          # bump when the payload's layout changes; older checkpoints are then refused
MAGIC = b"fedkd-checkpoint\n"
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


class _Pickler(pickle.Pickler):
    """Pickles memoryviews as bytes: arrays a deployment's strategy received over gRPC are views of the
    message buffer (Flower's `Array.data` takes either)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, memoryview):
            return bytes, (obj.tobytes(),)
        return NotImplemented


def checkpoint_path(directory: Path, server_round: int) -> Path:
    return directory / f"round-{server_round:06d}.ckpt"


def checkpoint_files(directory: Path) -> list[tuple[int, Path]]:
    """(round, path) of every checkpoint in `directory`, oldest first."""
    found = [(int(m[1]), p) for p in directory.glob("round-*.ckpt") if (m := _NAME.fullmatch(p.name))]
    return sorted(found)


def write_checkpoint(directory: Path, fingerprint: str, checkpoint: ServerCheckpoint) -> tuple[Path, int]:
    """Write atomically; returns the path and its size in bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(checkpoint)
    payload = buffer.getvalue()
    header = {"format": STATE_FORMAT, "config": fingerprint, "round": checkpoint.server_round,
              "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
              "clients": {str(p): r for p, r in sorted(checkpoint.client_rounds.items())}}
    target = checkpoint_path(directory, checkpoint.server_round)
    temporary = target.with_name(f".{target.name}.tmp")
    with open(temporary, "wb") as fh:
        fh.write(MAGIC + json.dumps(header).encode() + b"\n" + payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, target)
    return target, len(payload)


def read_checkpoint(path: Path, fingerprint: str) -> ServerCheckpoint:
    """The checkpoint at `path`, after checking its format, its config and its checksum."""
    fix = f"delete {path.name} to resume from the checkpoint before it, or start the run again"
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise UserError(f"checkpoint {path} cannot be read ({err.strerror}); {fix}") from None
    head, _, payload = blob[len(MAGIC):].partition(b"\n")
    try:
        header = json.loads(head) if blob.startswith(MAGIC) else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or not {"format", "config", "bytes", "sha256"} <= set(header):
        raise UserError(f"checkpoint {path} is not a fedkd checkpoint or its header is damaged; {fix}")
    if header["format"] != STATE_FORMAT:
        raise UserError(f"checkpoint {path} has state format {header['format']}, this fedkd writes "
                        f"{STATE_FORMAT}; resume it with the fedkd version that wrote it, or start the run again")
    if header["config"] != fingerprint:
        raise UserError(f"checkpoint {path} belongs to another config (fingerprint {header['config'][:12]}, this "
                        f"run's is {fingerprint[:12]}); resume with the run's own config (fedkd-sim resume=RUN_DIR "
                        "reads it from the run) or start a new run")
    if len(payload) != header["bytes"]:
        raise UserError(f"checkpoint {path} is truncated ({len(payload)} of {header['bytes']} bytes); {fix}")
    if hashlib.sha256(payload).hexdigest() != header["sha256"]:
        raise UserError(f"checkpoint {path} is corrupt (its checksum does not match); {fix}")
    checkpoint = pickle.loads(payload)  # the run's own file, its checksum verified
    if not isinstance(checkpoint, ServerCheckpoint):
        raise UserError(f"checkpoint {path} does not hold a server checkpoint; {fix}")
    return checkpoint


def read_header(path: Path) -> dict[str, Any] | None:
    """The JSON header of a checkpoint file (None if it has none)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                return None
            header = json.loads(fh.readline())
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) else None


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
