"""`audit`: plant canaries at some clients and bound ε from below after the run (docs/privacy.md#auditing)."""

from __future__ import annotations

from dataclasses import dataclass

from fedkd.config.fields import NOT_EMPTY, Invalid, above, at_least, at_most, below, each, one_of, setting

CANARY_KINDS = ("gradient", "input")
DP_BREAKS = ("none", "no_noise")
THREAT_MODEL = ("the server is the attacker: it knows the canaries (not the coins), sends each round's global "
                "model and sees every update the audited client sends back; it scores each canary from those "
                "pairs only")


@dataclass
class CanaryAuditSettings:
    """What every one-run audit has: the canary count, the confidence, the guess counts and the two seeds."""

    enabled: bool = setting(False, help="plant canaries and write audit.json")
    num_canaries: int = setting(5000, at_least(2), help="m; each is included by a secret fair coin (input "
                                "canaries are records: keep m well below the training set's size)")
    confidence: float = setting(0.95, above(0), below(1), help="of each lower bound")
    guess_fractions: list[float] = setting([0.02, 0.05, 0.1, 0.2, 0.5], NOT_EMPTY, each(above(0)),
                                           each(at_most(1)), help="guess counts tried, as shares of m (half "
                                           "'in', half 'out'); the bound is Bonferroni-corrected over them")
    design_seed: int = setting(0, at_least(0), help="the canaries themselves (public to the attacker)")
    secret_seed: int = setting(1, at_least(0), help="the inclusion coins (secret); must differ from design_seed")

    def check(self) -> None:
        if self.secret_seed == self.design_seed:
            raise Invalid("secret_seed", self.secret_seed, "a seed other than audit.design_seed (the coins must "
                          "not follow from what the attacker knows)")


@dataclass
class AuditSettings(CanaryAuditSettings):
    """`audit` of a federated run: canaries at the clients in `clients`."""

    canary: str = setting("gradient", one_of(CANARY_KINDS), help="gradient: a Dirac gradient of norm C on one "
                          "weight per canary (white-box, scored by that weight's change); input: a noise image "
                          "with a random label (black-box, scored by the drop of its loss)")
    clients: list[int] = setting([0], NOT_EMPTY, each(at_least(0)), help="partition ids of the audited clients")
    canary_norm: float = setting(1.0, above(0), help="gradient canaries' norm without DP (under DP it is "
                                 "privacy.max_grad_norm)")
    break_dp: str = setting("none", one_of(DP_BREAKS), help="a broken control: no_noise runs DP-SGD with σ = 0 "
                            "while the accountant still claims its ε")
