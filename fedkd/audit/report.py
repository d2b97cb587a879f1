"""Judge the attacker's guesses against the secret coins and write audit.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedkd.audit.coins import inclusion_coins
from fedkd.audit.one_run_bound import audit
from fedkd.audit.settings import THREAT_MODEL, AuditSettings

NO_CLAIM = "no DP claim (non-private run)"


def audit_report(settings: AuditSettings, scores: Mapping[int, Any], releases: Mapping[int, int],
                 claims: Mapping[int, float | None], delta: float, claim: Mapping[str, Any]) -> dict[str, Any]:
    """One entry per audited client: its guesses, the coins revealed, the one-run lower bound at `delta` and
    the accountant's claimed ε (`claims`; None without DP). `claim` says what the ε covers (accountant, scope)."""
    clients = []
    for partition, client_scores in scores.items():
        coins = inclusion_coins(settings.num_canaries, settings.secret_seed, partition).numpy()
        result, guess = audit(client_scores, coins, delta, settings.confidence, settings.guess_fractions)
        clients.append({
            "partition_id": partition, "releases_scored": releases[partition],
            "claimed_epsilon": claims.get(partition), **result.as_dict(),
            "leak_shown": claims.get(partition) is not None and result.epsilon_lower_bound > claims[partition],
            "canaries_included": int(coins.sum()),
            "scores": [round(float(s), 8) for s in client_scores], "coins": coins.astype(int).tolist(),
            "guesses": guess.tolist()})
    return {"audit": "one-run canary audit (Steinke, Nasr & Jagielski, NeurIPS 2023)",
            "canary": settings.canary, "num_canaries": settings.num_canaries, "threat_model": THREAT_MODEL,
            "break_dp": settings.break_dp, "delta": delta, "confidence": settings.confidence,
            "claim": dict(claim) if claim else NO_CLAIM, "clients": clients,
            "meaning": "a lower bound on the ε of the audited release at this confidence: it can show that a "
                       "run leaks more than it claims, never that it is private"}


def audit_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per audited client: claimed ε against the lower bound."""
    lines = []
    for client in report["clients"]:
        claimed = client["claimed_epsilon"]
        claim = f"claimed ε={claimed:.3f}" if claimed is not None else "no ε claimed"
        lines.append(f"audit: client {client['partition_id']}: {claim}, audited lower bound "
                     f"ε≥{client['epsilon_lower_bound']:.3f} at δ={report['delta']:g}, {client['confidence']:.0%} "
                     f"confidence ({client['correct_guesses']}/{client['num_guesses']} guesses right, "
                     f"{report['num_canaries']} {report['canary']} canaries; at most "
                     f"{client['ceiling']:.2f} could be shown)" + (" LEAK: above the claim" if client["leak_shown"]
                                                                 else ""))
    return lines
