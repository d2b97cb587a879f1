"""The audit of one federated run: the server-side scorer built from the config, and audit.json at the end."""

from __future__ import annotations

from typing import Any

from fedkd.app.experiment_config import FederatedConfig
from fedkd.audit.report import audit_report
from fedkd.audit.scoring import CanaryScorer
from fedkd.data.image_data import DataShape
from fedkd.errors import ConfigError
from fedkd.privacy.sample_level import SCOPE, SampleDPSettings
from fedkd.privacy.settings import DPSettings

DELTA_WITHOUT_DP = 1e-5  # δ of the bound where the run claims none


def canary_norm(config: FederatedConfig) -> float:
    """A gradient canary's norm: the clipping bound under DP-SGD, else `audit.canary_norm`."""
    privacy = config.privacy
    return privacy.max_grad_norm if isinstance(privacy, SampleDPSettings) else config.audit.canary_norm


def federated_scorer(config: FederatedConfig, shape: DataShape) -> CanaryScorer | None:
    if not config.audit.enabled:
        return None
    try:
        return CanaryScorer(config.audit, shape, lambda: config.new_model(shape), canary_norm(config))
    except ValueError as err:
        raise ConfigError("audit.num_canaries", config.audit.num_canaries, str(err).split(" exceeds ")[-1]
                          .replace("the model's", "at most the model's")) from None


def federated_audit(config: FederatedConfig, scorer: CanaryScorer) -> dict[str, Any]:
    privacy = config.privacy
    delta = privacy.delta if isinstance(privacy, DPSettings) else DELTA_WITHOUT_DP
    claim: dict[str, Any] = {}
    mode = "non-private"
    if isinstance(privacy, SampleDPSettings):
        mode = "sample-level DP-SGD" if config.audit.break_dp == "none" else "broken control (σ = 0)"
        claim = {"mode": "sample-level DP-SGD", "accountant": privacy.accountant, "delta": privacy.delta,
                 "scope": SCOPE}
        if config.audit.break_dp == "no_noise":
            claim["broken"] = "CONTROL: DP-SGD ran with noise multiplier 0; the claimed ε is false by construction"
    elif isinstance(privacy, DPSettings):
        mode = f"privacy={privacy.mode}"
        claim = {"mode": f"privacy={privacy.mode} (its ε is in privacy.json, not per audited client)"}
    return audit_report(config.audit, scorer.scores, scorer.releases, scorer.claims, delta, claim) | {
        "method": config.strategy.name, "mode": mode, "dataset": config.dataset.name, "seed": config.seed}
