"""User-facing errors: one clear line, exit code 2."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

USAGE_EXIT_CODE = 2


class UserError(Exception):
    """A mistake in the user's input (config value, path, data). Printed as one line."""


class ConfigError(UserError):
    """A config value that is invalid; names the key, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str | Iterable[str]) -> None:
        if not isinstance(allowed, str):
            allowed = "one of: " + ", ".join(str(a) for a in allowed)
        self.key, self.value, self.allowed = key, value, allowed
        shown = int(value) if isinstance(value, float) and value.is_integer() else value  # as typed: 0, not 0.0
        super().__init__(f"{key}={shown!r} is invalid; allowed: {allowed}")


_OS_FIXES = {
    errno.ENOSPC: "free space on that disk (or point output.root / data_cache elsewhere), then run again",
    errno.EDQUOT: "free space within your quota (or point output.root / data_cache elsewhere), then run again",
    errno.EFBIG: "the file outgrew the file system's limit; point output.root / data_cache elsewhere",
    errno.EROFS: "the file system is read-only; point output.root / data_cache at a writable folder",
    errno.EACCES: "make it readable/writable for you, or point output.root / data_cache elsewhere",
    errno.EPERM: "make it readable/writable for you, or point output.root / data_cache elsewhere",
    errno.ENOTDIR: "a file stands where a folder is expected; move it or choose another path",
    errno.EISDIR: "a folder stands where a file is expected; move it or choose another path",
}


def os_error_line(err: OSError) -> str | None:
    """One line for a file-system failure a user can fix (disk full, read-only, permissions, a file where a
    folder should be); None for other OS errors, which are bugs to report."""
    fix = _OS_FIXES.get(err.errno or 0)
    if fix is None:
        return None
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{err.strerror or os.strerror(err.errno or 0)}; {fix}"


def check_writable_folder(key: str, folder: Path) -> None:
    """`folder` exists as a writable folder or can be created: its first existing ancestor is a writable
    folder. Raises UserError naming `key`."""
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{key}={folder}: {ancestor} is a file, not a folder; choose another {key}")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{key}={folder}: {ancestor} is not writable; choose another {key} or make it writable")
