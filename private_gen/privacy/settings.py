"""What every generator privacy mechanism's settings have (`gen_privacy=<mechanism>`), and no privacy."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING


@dataclass
class GenPrivacySettings:
    name: str = MISSING         # the label in run-directory names
    mechanism: str = MISSING    # none | dp | projection_perturbation


@dataclass
class NoGenPrivacy(GenPrivacySettings):
    """`gen_privacy=none`."""

    name: str = "nonprivate"
    mechanism: str = "none"
