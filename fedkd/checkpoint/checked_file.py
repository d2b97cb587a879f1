"""Checkpoint files of every command: a magic line, a JSON header (state format, the config's fingerprint,
the payload's size and SHA-256, and what the writer adds) and a pickled payload.

Files are written to a temporary name, fsynced and renamed, so a kill leaves either the old file or the new
one, never half of one. A file of another config or state format, or one whose bytes do not match its
checksum, is refused in one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any, TypeVar

from fedkd.errors import UserError

STATE_FORMAT = 1          # bump when a payload's layout changes; older checkpoints are then refused
MAGIC = b"fedkd-checkpoint\n"
T = TypeVar("T")


class _Pickler(pickle.Pickler):
    """Pickles memoryviews as bytes: arrays a deployment's strategy received over gRPC are views of the
    message buffer (Flower's `Array.data` takes either)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, memoryview):
            return bytes, (obj.tobytes(),)
        return NotImplemented


def encode_checked(payload: Any) -> bytes:
    """`payload` pickled, as `write_encoded` stores it (a snapshot: later changes to the objects do not reach it)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(payload)
    return buffer.getvalue()


def write_encoded(target: Path, fingerprint: str, blob: bytes, header: dict[str, Any] | None = None) -> int:
    """Write an encoded payload to `target` atomically; returns its size in bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    head = {"format": STATE_FORMAT, "config": fingerprint, "bytes": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(), **(header or {})}
    temporary = target.with_name(f".{target.name}.tmp")
    with open(temporary, "wb") as fh:
        fh.write(MAGIC + json.dumps(head).encode() + b"\n" + blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, target)
    return len(blob)


def write_checked(target: Path, fingerprint: str, payload: Any, header: dict[str, Any] | None = None) -> int:
    """Write `payload` to `target` atomically; returns the payload's size in bytes."""
    return write_encoded(target, fingerprint, encode_checked(payload), header)


def read_checked(path: Path, fingerprint: str, kind: type[T], fix: str, resume_hint: str) -> T:
    """The payload at `path` after checking its format, its config and its checksum; `fix` says what to do
    about a damaged file, `resume_hint` how to resume with the run's own config."""
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
                        f"run's is {fingerprint[:12]}); {resume_hint} or start a new run")
    if len(payload) != header["bytes"]:
        raise UserError(f"checkpoint {path} is truncated ({len(payload)} of {header['bytes']} bytes); {fix}")
    if hashlib.sha256(payload).hexdigest() != header["sha256"]:
        raise UserError(f"checkpoint {path} is corrupt (its checksum does not match); {fix}")
    content = pickle.loads(payload)  # the run's own file, its checksum verified
    if not isinstance(content, kind):
        raise UserError(f"checkpoint {path} does not hold a {kind.__name__}; {fix}")
    return content


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
