"""What every data set's settings have: the name that selects it (`dataset=<name>`)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class DatasetSettings:
    name: str = MISSING
