"""What every privacy mode's settings have (`privacy=<mode>`), and the non-private mode."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from fedkd.config.fields import above, at_least, below, setting


@dataclass
class PrivacySettings:
    mode: str = MISSING                 # none | sample | client
    name: str = MISSING                 # the label in run-directory names

    @property
    def private(self) -> bool:
        return self.mode != "none"


@dataclass
class NoPrivacy(PrivacySettings):
    """`privacy=none`: no differential privacy."""

    mode: str = "none"
    name: str = "nonprivate"


@dataclass
class DPSettings(PrivacySettings):
    """What both DP modes have: the δ of every reported ε and the GroupNorm that replaces BatchNorm."""

    delta: float = setting(1.0e-5, above(0), below(1), help="δ of every ε reported")
    norm_groups: int = setting(8, at_least(1), help="BatchNorm -> GroupNorm(gcd(norm_groups, channels))")
