"""User-facing errors: one clear line, exit code 2."""

from __future__ import annotations

from collections.abc import Iterable
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
