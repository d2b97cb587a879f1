"""Judge the attacker's guesses against the secret coins and write audit.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fedkd.audit.coins import inclusion_coins
from fedkd.audit.one_run_bound import audit
from fedkd.audit.settings import THREAT_MODEL, CanaryAuditSettings

NO_CLAIM = "no DP claim (non-private run)"
MEANING = ("a lower bound on the ε of the audited release at this confidence: it can show that a run leaks more "
           "than it claims, never that it is private")


def judged(settings: CanaryAuditSettings, scores: np.ndarray, stream: int, claimed: float | None,
           delta: float) -> dict[str, Any]:
    """One audited release: the coins of `stream` (a client's partition id; 0 for a generator) revealed, the
    guesses, the one-run lower bound at `delta` and the claimed ε (None: no claim)."""
    coins = inclusion_coins(settings.num_canaries, settings.secret_seed, stream).numpy()
    result, guess = audit(scores, coins, delta, settings.confidence, settings.guess_fractions)
    return {"claimed_epsilon": claimed, **result.as_dict(),
            "leak_shown": claimed is not None and result.epsilon_lower_bound > claimed,
            "canaries_included": int(coins.sum()),
            "scores": [round(float(s), 8) for s in scores], "coins": coins.astype(int).tolist(),
            "guesses": guess.tolist()}


def report_header(settings: CanaryAuditSettings, canary: str, threat_model: str, delta: float,
                  claim: Mapping[str, Any]) -> dict[str, Any]:
    return {"audit": "one-run canary audit (Steinke, Nasr & Jagielski, NeurIPS 2023)", "canary": canary,
            "num_canaries": settings.num_canaries, "threat_model": threat_model, "delta": delta,
            "confidence": settings.confidence, "claim": dict(claim) if claim else NO_CLAIM, "meaning": MEANING}


def audit_report(settings: Any, scores: Mapping[int, np.ndarray], releases: Mapping[int, int],
                 claims: Mapping[int, float | None], delta: float, claim: Mapping[str, Any]) -> dict[str, Any]:
    """A federated run's audit (`settings`: its AuditSettings): one entry per audited client."""
    clients = [{"partition_id": k, "releases_scored": releases[k]} | judged(settings, s, k, claims.get(k), delta)
               for k, s in scores.items()]
    return report_header(settings, settings.canary, THREAT_MODEL, delta, claim) | {
        "break_dp": settings.break_dp, "clients": clients}


def audit_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per audited release: claimed ε against the lower bound."""
    lines = []
    for client in report["clients"]:
        claimed = client["claimed_epsilon"]
        claim = f"claimed ε={claimed:.3f}" if claimed is not None else "no ε claimed"
        who = f"client {client['partition_id']}" if "partition_id" in client else "generator"
        lines.append(f"audit: {who}: {claim}, audited lower bound "
                     f"ε≥{client['epsilon_lower_bound']:.3f} at δ={report['delta']:g}, {client['confidence']:.0%} "
                     f"confidence ({client['correct_guesses']}/{client['num_guesses']} guesses right, "
                     f"{report['num_canaries']} {report['canary']} canaries; at most "
                     f"{client['ceiling']:.2f} could be shown)" + (" LEAK: above the claim" if client["leak_shown"]
                                                                 else ""))
    return lines
