"""The LR face student as a federated client workload: runs with FedAvg and FedCKD in-process, adds the
face-distillation terms to the method's objective, and refuses combinations that cannot work."""

from __future__ import annotations

import csv
import json
import re

import pytest

from fedkd.app.experiment_config import FederatedConfig, load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.data.federated import load_client_data, prepare_federation
from fedkd.distill.cckd import CCKD
from fedkd.distill.logit_feature_kd import LogitFeatureKD
from fedkd.errors import UserError
from fedkd.relations import check_dp_compatible

FACES = ["dataset.num_identities=16", "dataset.images_per_identity=6", "dataset.resolution=32",
         "dataset.num_families=4", "lowres.size=8", "model=lr_student", "model.widths=[8,16]",
         "workload=face_kd", "workload.eval_identities=6", "workload.teacher.widths=[8,16]",
         "workload.teacher.train.epochs=2", "workload.teacher.train.progress=false", "partition=iid",
         "num_rounds=2", "simulation.num_clients=3", "simulation.backend=inprocess", "train.local_epochs=1"]


def face_config(*overrides: str) -> FederatedConfig:
    base = [o for o in FACES if not (o.startswith("model.") and "model=small_cnn" in overrides)]
    return load_federated([*base, *overrides])


@pytest.mark.parametrize(("strategy", "method"), [("fedavg", "feature_kd"), ("fedckd", "cckd"),
                                                  ("fedavg", "instance_relation")])
def test_face_students_train_as_clients_with_distillation_terms(tmp_path, strategy, method):
    path = run_in_process(face_config(f"strategy={strategy}", f"face_method@workload.method={method}"),
                          output_root=tmp_path)
    with open(path / "clients.csv") as fh:
        trained = [row for row in csv.DictReader(fh) if row["phase"] == "train"]
    assert len(trained) == 6  # 3 clients × 2 rounds
    term = {"feature_kd": "loss_face_kd_feature", "cckd": "loss_face_kd_correlation",
            "instance_relation": "loss_face_kd_relation"}[method]
    assert all(float(row[term]) > 0 for row in trained)
    if strategy == "fedckd":
        second = [row for row in trained if row["round"] == "2"]
        assert all(float(row["loss_kd_global"]) > 0 for row in second)  # FedCKD's own teachers still act


@pytest.mark.parametrize(("override", "message"), [
    ("model=small_cnn", "model='small_cnn' is invalid; allowed: lr_student under workload=face_kd"),
    ("face_method@workload.method=hinton_kd", "workload.method.distiller.lambda_logits=1 is invalid"),
    ("face_method@workload.method=bridge", "workload.method='bridge' is invalid"),
    ("lowres=none", "lowres='none' is invalid"),
    ("model.embedding_dim=64", "model.embedding_dim=64 is invalid; allowed: workload.teacher.embedding_dim=128"),
])
def test_face_workload_refuses_what_cannot_work(override, message):
    with pytest.raises(UserError, match=re.escape(message)):
        face_config(override)


def test_face_students_train_under_sample_level_dp(tmp_path):
    """The per-sample feature distiller runs under DP-SGD (its second forward pass included)."""
    path = run_in_process(face_config("strategy=fedckd", "face_method@workload.method=feature_kd", "privacy=sample",
                                      "privacy.target_epsilon=4"), output_root=tmp_path)
    with open(path / "clients.csv") as fh:
        trained = [row for row in csv.DictReader(fh) if row["phase"] == "train"]
    assert len(trained) == 6 and all(0 < float(row["dp_epsilon"]) <= 4.0 for row in trained)
    assert all(float(row["loss_face_kd_feature"]) > 0 for row in trained)


def test_batch_coupled_losses_are_refused_under_differential_privacy():
    check_dp_compatible(LogitFeatureKD, "sample", "workload.method.distiller")  # per-sample: allowed
    check_dp_compatible(CCKD, "none", "workload.method.distiller")  # no DP: allowed
    check_dp_compatible(CCKD, "client", "workload.method.distiller")  # client-level DP clips whole updates
    with pytest.raises(UserError, match=re.escape("workload.method.distiller=CCKD couples the samples of a batch")):
        check_dp_compatible(CCKD, "sample", "workload.method.distiller")


def test_every_evaluation_round_scores_verification_on_identities_no_client_holds(tmp_path):
    config = face_config("strategy=fedckd")
    spec = config.federation()
    data, _ = prepare_federation(spec)
    held_out = set(spec.holdout.labels(data.labels).tolist())
    assert len(held_out) == 6
    for pid in range(3):
        client = load_client_data(spec, pid)
        assert not (set(client.train_y.tolist()) | set(client.test_y.tolist())) & held_out
    path = run_in_process(config, output_root=tmp_path)
    with open(path / "rounds.csv") as fh:
        rounds = list(csv.DictReader(fh))
    columns = ("personal_verification_accuracy_client_mean", "personal_verification_accuracy_client_std",
               "personal_verification_tar_client_mean", "global_verification_accuracy", "global_verification_tar")
    assert len(rounds) == 2 and all(0 <= float(r[c]) <= 1 for r in rounds for c in columns)
    with open(path / "clients.csv") as fh:
        evaluated = [r for r in csv.DictReader(fh) if r["phase"] == "evaluate"]
    assert len(evaluated) == 6 and all(r["personal_verification_accuracy"] for r in evaluated)
    final = json.loads((path / "summary.json").read_text())["final"]
    assert set(columns) <= set(final)
    assert (path / "curves.png").is_file() and (path / "curves.svg").is_file()
