"""Every method runs end to end (2 rounds, tiny data) through the in-process runtime, and the
round metrics keep personalized, global and never-trained clients apart."""

from __future__ import annotations

import json

import pytest
from helpers import run_tiny

from fedkd.config.validate import STRATEGIES

TINY = ["dataset=digits", "lowres=none", "partition=iid", "num_rounds=2", "simulation.num_clients=4",
        "simulation.fraction_train=0.5", "simulation.backend=inprocess", "train.local_epochs=1"]


def _run(tmp_path, *overrides: str) -> tuple[list[dict], list[dict], dict]:
    rounds, clients, path = run_tiny(tmp_path, [*TINY, *overrides])
    return rounds, clients, json.loads((path / "summary.json").read_text())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_method_runs_two_rounds(tmp_path, strategy):
    rounds, clients, summary = _run(tmp_path, f"strategy={strategy}")
    assert [r["round"] for r in rounds] == ["1", "2"]
    first = rounds[0]
    # Half the clients trained in round 1; all four were evaluated; the other two are "unseen".
    assert (first["clients_trained"], first["clients_evaluated"], first["clients_unseen"]) == ("2", "4", "2")
    assert 0.0 <= float(first["personal_accuracy_client_mean"]) <= 1.0
    assert first["personal_accuracy_unseen"] != ""
    evaluated = [c for c in clients if c["phase"] == "evaluate" and c["round"] == "2"]
    assert sorted(c["partition_id"] for c in evaluated) == ["0", "1", "2", "3"]
    has_global = strategy not in ("local", "fedper", "fedrep")
    assert (first["global_accuracy"] != "") == has_global
    assert (first["global_accuracy_unseen"] != "") == has_global
    assert summary["strategy"] == strategy and summary["final_round_evaluated"] == 2


def test_global_metrics_exclude_unseen_clients(tmp_path):
    rounds, clients, _ = _run(tmp_path, "strategy=fedavg")
    round1 = [c for c in clients if c["phase"] == "evaluate" and c["round"] == "1"]
    trained = [c for c in round1 if c["participations"] != "0"]
    unseen = [c for c in round1 if c["participations"] == "0"]
    expected = sum(float(c["global_accuracy"]) * int(c["num_examples"]) for c in trained) / sum(
        int(c["num_examples"]) for c in trained)
    assert float(rounds[0]["global_accuracy"]) == pytest.approx(expected)
    assert float(rounds[0]["global_accuracy_unseen"]) == pytest.approx(
        sum(float(c["global_accuracy"]) for c in unseen) / len(unseen))


def test_evaluation_schedule_skips_rounds_but_not_the_last(tmp_path):
    rounds, _, summary = _run(tmp_path, "strategy=fedavg", "num_rounds=3", "simulation.evaluate_every=2")
    assert [r["personal_accuracy"] != "" for r in rounds] == [False, True, True]
    assert summary["final_round_evaluated"] == 3
