"""What every generator's settings have: the name that selects it (`generator=<name>`)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class GeneratorSettings:
    name: str = MISSING
