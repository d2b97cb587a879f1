"""Named entries of one config group: what `group=<name>` selects, and what the code builds from it.

An entry carries the settings of its option and whatever the group's code needs besides (a client class,
a loader, a training function). When the settings are an instance, they are the option's defaults
(registered in Hydra's ConfigStore as `<group>/<name>`); when they are a class, they are the schema of
YAML presets in `configs/<group>/` (registered as `schema/<group>/<name>`, which a preset lists first in
its defaults). Adding an option to a group is one `add` call next to the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from fedkd.errors import ConfigError

E = TypeVar("E")


def itself(entry: Any) -> Any:
    return entry


class Registry(Generic[E]):
    def __init__(self, group: str, settings_of: Callable[[E], Any] = itself, key: str | None = None) -> None:
        self.group = group
        self.key = key or f"{group}.name"  # the config key whose value names an entry
        self._settings_of = settings_of
        self._entries: dict[str, E] = {}

    def add(self, name: str, entry: E) -> E:
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def __getitem__(self, name: str) -> E:
        if name not in self._entries:
            raise ConfigError(self.key, name, self.names())
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def nodes(self) -> dict[str, Any]:
        """Each entry's settings (an instance: option defaults; a class: a preset schema), by name."""
        return {name: self._settings_of(entry) for name, entry in self._entries.items()}

    def selected(self, name: str, settings: Any) -> E:
        """The entry `name` names, after checking that `settings` are of its kind (a renamed option is not)."""
        entry = self[name]
        node = self._settings_of(entry)
        kind = node if isinstance(node, type) else type(node)
        if type(settings) is not kind:
            raise ConfigError(self.key, name, f"the name of the selected option; choose another one with "
                              f"{self.group}=<name> ({', '.join(self.names())})")
        return entry
