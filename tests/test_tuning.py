"""fedkd-tune: searches on validation splits only (the test rows are never read), resumes from its journal, and
writes every trial and the chosen values."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from fedkd.app.experiment_config import load_federated
from fedkd.commands.tune import main as tune_main
from fedkd.config.search_space import Choice, Interval
from fedkd.data.federated import client_splits, prepare_federation
from fedkd.data.image_data import ImageData
from fedkd.errors import UserError
from fedkd.tuning.space import parse_choices, search_space
from fedkd.tuning.study import TuningJob, tune

BASE = ("dataset=digits", "lowres=none", "num_rounds=2", "simulation.num_clients=3", "train.local_epochs=1",
        "partition=iid", "seed=100")


def test_the_tuner_never_reads_a_test_split(tmp_path, monkeypatch):
    config = load_federated(list(BASE))
    spec = config.federation()
    _, parts = prepare_federation(spec)
    test_rows = set()
    for pid, rows in enumerate(parts):
        test_rows |= set(client_splits(rows, config.partition, spec.seed * 100_003 + pid)[2])
    requested: list[np.ndarray] = []
    original = ImageData.tensors
    monkeypatch.setattr(ImageData, "tensors", lambda self, rows: requested.append(rows) or original(self, rows))
    best = tune(TuningJob("fedavg", (*BASE, "strategy=fedavg"), tmp_path / "fedavg", trials=2))
    assert best["complete"] == 2 and requested
    assert not set(np.concatenate(requested)) & test_rows
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "fedavg" / "runs").glob("*/summary.json")]
    assert len(summaries) == 2 and all(s["evaluate_split"] == "validation" for s in summaries)


def test_the_test_split_cannot_be_requested(tmp_path):
    job = TuningJob("x", (*BASE, "simulation.evaluate_split=test"), tmp_path, trials=1)
    with pytest.raises(UserError, match=r"simulation\.evaluate_split=test cannot be set for tuning"):
        tune(job)


def test_a_search_resumes_with_its_budget_and_writes_every_trial(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--choice", "strategy.temperature=1,3", "--no-method-space", "--sampler", "grid",
            *BASE, "strategy=fedckd", "train.lr=0.003"]
    tune_main(["--trials", "1", *args])
    tune_main(["--trials", "2", *args])
    with open(tmp_path / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]  # the second call ran only the missing trial
    assert sorted(float(r["strategy.temperature"]) for r in rows) == [1.0, 3.0]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["value"] == max(float(r["value"]) for r in rows)
    assert best["overrides"][0].startswith("strategy.temperature=") and best["budget"] == 2


def test_each_method_searches_the_learning_rate_and_its_own_keys():
    fedckd = search_space(load_federated(["strategy=fedckd"]))
    assert set(fedckd) == {"train.lr", "strategy.lambda_global", "strategy.lambda_historical",
                           "strategy.temperature"}
    assert "strategy.lambda_global" not in search_space(load_federated(["strategy=pfedsd"]))
    assert set(search_space(load_federated(["strategy=fedprox"]))) == {"train.lr", "strategy.proximal_mu"}
    sgd = search_space(load_federated(["train.optimizer=sgd", "train.lr=0.01"]))["train.lr"]
    assert isinstance(sgd, Interval) and sgd.contains(0.05) and not sgd.contains(0.5)


def test_choices_parse_as_yaml_scalars_and_bad_ones_name_the_fix():
    assert parse_choices(["strategy.teacher_norm=eval,train", "strategy.local_norm=true,false"]) == {
        "strategy.teacher_norm": Choice(("eval", "train")), "strategy.local_norm": Choice((True, False))}
    with pytest.raises(UserError, match="is not KEY=V1,V2"):
        parse_choices(["strategy.teacher_norm"])
