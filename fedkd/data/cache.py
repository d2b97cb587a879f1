"""Atomic on-disk cache of generated arrays (safe when several processes build at once)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]


def cache_key(name: str, params: dict[str, Any]) -> str:
    """A file name that changes whenever any generation parameter changes."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    return f"{name}-{digest[:16]}.npz"


def load_or_build(path: Path, build: Callable[[], Arrays]) -> Arrays:
    """Load arrays from `path`, or build and store them there (write to a temp file, then rename). A damaged
    entry (a disk error, a copy cut short) is built again, with a warning."""
    if path.is_file():
        try:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            print(f"warning: cache entry {path} is damaged ({type(err).__name__}); building it again",
                  file=sys.stderr)
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return arrays
