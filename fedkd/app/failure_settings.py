"""`simulation.failures`: injected client failures, and how many good replies a round needs."""

from __future__ import annotations

from dataclasses import dataclass

from fedkd.config.fields import Invalid, at_least, at_most, one_of, setting

CORRUPTIONS = ("nan", "inf", "shape", "keys", "any")
BELOW_MIN = ("skip_round", "fail")


@dataclass
class FailureSettings:
    crash: float = setting(0.0, at_least(0), at_most(1), help="probability that a sampled client crashes before "
                           "it replies to a train instruction")
    straggle: float = setting(0.0, at_least(0), at_most(1), help="probability that it trains but replies after "
                              "the round's timeout (its reply is dropped)")
    corrupt: float = setting(0.0, at_least(0), at_most(1), help="probability that its update is corrupt")
    corruption: str = setting("any", one_of(CORRUPTIONS), help="what a corrupt update holds: NaN or Inf values, a "
                              "wrong shape, a wrong key, or any of them")
    min_replies: int = setting(1, at_least(1), help="valid train replies a round needs to aggregate")
    below_min: str = setting("skip_round", one_of(BELOW_MIN), help="fewer valid replies: keep the global model "
                             "unchanged this round, or fail the run")

    def check(self) -> None:
        total = self.crash + self.straggle + self.corrupt
        if total > 1:
            raise Invalid("crash", self.crash, f"crash + straggle + corrupt at most 1 (they sum to {total:g})")

    @property
    def injects(self) -> bool:
        return self.crash + self.straggle + self.corrupt > 0
