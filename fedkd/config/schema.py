"""An experiment's config schema: its root settings class, its groups' options, and how it is loaded.

`register()` puts the root class (as `<config_name>_schema`), every group option and the schemas of YAML
presets (as `schema/<group>/<name>`, see `Registry`) into Hydra's ConfigStore; `configs/<config_name>.yaml`
lists the root schema first in its defaults. `load()` composes, checks every declared rule and then the
cross-section relations, and returns the typed root.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from omegaconf import DictConfig

from fedkd.config.check import typed
from fedkd.config.compose import compose_config
from fedkd.config.registry import Registry

T = TypeVar("T")


@dataclass
class ExperimentSchema(Generic[T]):
    config_name: str
    root: type[T]
    groups: Sequence[Registry[Any]]
    relations: Callable[[T], None] = lambda settings: None

    def register(self) -> None:
        """Store the schema in Hydra's ConfigStore (again: later registry additions are picked up)."""
        from hydra.core.config_store import ConfigStore

        store = ConfigStore.instance()
        store.store(name=f"{self.config_name}_schema", node=self.root)
        for registry in self.groups:
            for name, node in registry.nodes().items():
                group = f"schema/{registry.group}" if isinstance(node, type) else registry.group
                store.store(group=group, name=name, node=node)

    def validate(self, cfg: DictConfig) -> T:
        settings = typed(cfg, self.root)
        self.relations(settings)
        return settings

    def load(self, overrides: Sequence[str] = ()) -> T:
        self.register()
        return self.validate(compose_config(overrides, self.config_name))


def as_dict(settings: Any) -> dict[str, Any]:
    """Plain nested dict of a settings object (config.yaml, fedkd-config)."""
    return dataclasses.asdict(settings)

