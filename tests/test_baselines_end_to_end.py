"""Every method runs end to end (2 rounds, tiny data) through the in-process runtime, and the
round metrics keep personalized, global and never-trained clients apart."""

from __future__ import annotations

import json
import math

import pytest
from helpers import run_tiny

from fedkd.methods.registry import METHODS

TINY = ["dataset=digits", "lowres=none", "partition=iid", "num_rounds=2", "simulation.num_clients=4",
        "simulation.fraction_train=0.5", "simulation.backend=inprocess", "train.local_epochs=1"]


def _run(tmp_path, *overrides: str) -> tuple[list[dict], list[dict], dict]:
    rounds, clients, path = run_tiny(tmp_path, [*TINY, *overrides])
    return rounds, clients, json.loads((path / "summary.json").read_text())


@pytest.mark.parametrize("strategy", METHODS.names())
def test_each_method_runs_two_rounds(tmp_path, strategy):
    rounds, clients, summary = _run(tmp_path, f"strategy={strategy}")
    assert [r["round"] for r in rounds] == ["1", "2"]
    first = rounds[0]
    # Half the clients trained in round 1; all four were evaluated; the other two are "unseen".
    assert (first["clients_trained"], first["clients_evaluated"], first["clients_unseen"]) == ("2", "4", "2")
    assert float(rounds[1]["personal_accuracy_client_mean"]) > 0.3  # every method learns: 0.58-0.94 seen, chance 0.1
    assert first["personal_accuracy_unseen"] != ""
    entry = METHODS[strategy]
    declared = [f"{prefix}{key}" for prefix in ("", *entry.passes)
                for key in ("train_loss", "loss_ce", *(f"loss_{t}" for t in entry.loss_terms))]
    trained = [c for c in clients if c["phase"] == "train"]
    for column in declared:  # every declared term reaches clients.csv, with a value in every train row
        values = [c[column] for c in trained if not (column == "loss_proximal" and entry.passes)]
        assert all(math.isfinite(float(v)) and float(v) >= 0 for v in values), (column, values)
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
