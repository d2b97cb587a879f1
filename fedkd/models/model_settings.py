"""What every model's settings provide: the name that selects it (`model=<name>`) and a builder that takes
the input shape of the data it will see (models never load data themselves)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from omegaconf import MISSING
from torch import nn

Shape = tuple[int, int, int]  # (channels, input side, classes)


@dataclass
class ModelSettings(ABC):
    name: str = MISSING

    @abstractmethod
    def build(self, shape: Shape) -> nn.Module:
        """The network for inputs of `shape` = (channels, side, classes)."""
