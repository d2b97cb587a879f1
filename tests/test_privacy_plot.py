"""`fedkd-plot privacy-utility`: the plotted points (mean ± std over seeds), the reference lines, what is left
out, and the refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from fedkd.commands.plot import main

BASE = {"dataset": {"name": "digits"}, "num_rounds": 5}


def federated_run(root: Path, strategy: str, seed: int, target: float | None, eps: float | None,
                  accuracy: float) -> None:
    name = "nonprivate" if target is None else f"dp-eps{target}"
    path = root / f"{strategy}-{name}-s{seed}"
    path.mkdir(parents=True)
    privacy = {"mode": "none", "name": name} if target is None else {
        "mode": "sample", "name": name, "target_epsilon": target, "delta": 1e-5}
    config = BASE | {"strategy": {"name": strategy}, "seed": seed, "privacy": privacy,
                     "output": {"name": path.name}}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    report = {"mode": "none", "epsilon": None} if target is None else {
        "mode": "sample", "epsilon": eps, "delta": 1e-5, "accountant": "prv", "scope": "sample-level"}
    (path / "summary.json").write_text(json.dumps({"final": {"personal_accuracy_client_mean": accuracy},
                                                   "privacy": report}))


def generator_run(root: Path, name: str, privacy: dict, accuracy: float, generator: dict | None = None,
                  pretrain: str = "none") -> None:
    path = root / name
    path.mkdir(parents=True)
    config = {"generator": generator or {"name": "score_ssm"}, "sampler": {"name": "hmc"}, "seed": 0,
              "gen_privacy": {"name": name}, "pretrain": {"name": pretrain}}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    (path / "summary.json").write_text(json.dumps({"cnn_accuracy": accuracy, "frechet_distance": 10.0,
                                                   "privacy": privacy}))


def read_points(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_privacy_utility_plots_mean_and_std_over_seeds(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for seed, (e1, e8) in enumerate([(0.98, 7.9), (1.0, 8.0)]):
        federated_run(sweep, "fedckd", seed, 1.0, e1, 0.5 + 0.1 * seed)
        federated_run(sweep, "fedckd", seed, 8.0, e8, 0.8 + 0.1 * seed)
        federated_run(sweep, "fedavg", seed, 8.0, e8, 0.6)
        federated_run(sweep, "fedckd", seed, None, None, 0.9)
    (sweep / "broken.incomplete").mkdir()  # unfinished runs are no results
    main(["privacy-utility", str(sweep), "--out", str(tmp_path / "fig" / "pu")])
    assert (tmp_path / "fig" / "pu.png").stat().st_size > 0 and (tmp_path / "fig" / "pu.svg").stat().st_size > 0
    points = {(p["method"], p["setting"]): p for p in read_points(tmp_path / "fig" / "pu.csv")}
    assert set(points) == {("fedckd", "dp-eps1.0"), ("fedckd", "dp-eps8.0"), ("fedavg", "dp-eps8.0"),
                           ("fedckd", "nonprivate")}
    low = points[("fedckd", "dp-eps1.0")]
    assert float(low["epsilon_mean"]) == pytest.approx(0.99) and float(low["epsilon_std"]) == pytest.approx(0.01)
    assert float(low["value_mean"]) == pytest.approx(0.55) and float(low["value_std"]) == pytest.approx(0.05)
    assert low["seeds"] == "2" and low["delta"] == "1e-05" and low["accountant"] == "prv"
    reference = points[("fedckd", "nonprivate")]
    assert reference["mode"] == "none" and reference["epsilon_mean"] == "" and float(reference["value_mean"]) == 0.9
    assert capsys.readouterr().out.splitlines()[-1].endswith("pu.csv")


def test_generator_runs_without_a_formal_guarantee_are_left_out(tmp_path, capsys):
    generator_run(tmp_path, "dp-eps10", {"epsilon": 9.99, "delta": 1e-5, "accountant": "prv",
                                         "guarantee": "(ε, δ)-DP", "scope": "sample-level"}, 0.3)
    generator_run(tmp_path, "nonprivate", {"epsilon": None, "guarantee": "none (non-private)"}, 0.8)
    generator_run(tmp_path, "pp", {"epsilon": None, "guarantee": "not a formal DP guarantee"}, 0.5)
    main(["privacy-utility", str(tmp_path), "--out", str(tmp_path / "gen")])
    points = read_points(tmp_path / "gen.csv")
    assert {(p["metric"], p["setting"]) for p in points} == {
        (m, s) for m in ("cnn_accuracy", "frechet_distance") for s in ("dp-eps10", "nonprivate")}
    assert "left out (not a formal DP guarantee, no ε)" in capsys.readouterr().err


def test_score_models_are_told_apart_by_objective_energy_and_pretraining(tmp_path):
    dp = {"epsilon": 9.99, "delta": 1e-5, "accountant": "prv", "guarantee": "(ε, δ)-DP", "scope": "sample-level"}
    generator_run(tmp_path, "ssm", dp, 0.2, {"name": "score_ssm", "objective": {"kind": "ssm_vr"}})
    generator_run(tmp_path, "dsm", dp, 0.6, {"name": "score_ssm", "objective": {"kind": "dsm"},
                                             "parameterization": "energy"}, pretrain="glyphs")
    main(["privacy-utility", str(tmp_path), "--metric", "cnn_accuracy", "--out", str(tmp_path / "gen")])
    assert {p["method"]: float(p["value_mean"]) for p in read_points(tmp_path / "gen.csv")} == {
        "score_ssm_vr+hmc": 0.2, "score_dsm-energy-pretrained(glyphs)+hmc": 0.6}  # two lines, not one merged


def test_two_setups_with_the_same_privacy_are_refused(tmp_path, capsys):
    federated_run(tmp_path / "a", "fedavg", 0, 8.0, 8.0, 0.6)
    federated_run(tmp_path / "b", "fedavg", 1, 8.0, 8.0, 0.6)
    config_path = tmp_path / "b" / "fedavg-dp-eps8.0-s1" / "config.yaml"
    config_path.write_text(config_path.read_text().replace("num_rounds: 5", "num_rounds: 9"))
    with pytest.raises(SystemExit) as exit_info:
        main(["privacy-utility", str(tmp_path / "a"), str(tmp_path / "b")])
    assert exit_info.value.code == 2
    assert "differ in num_rounds" in capsys.readouterr().err


def test_no_runs_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["privacy-utility", str(tmp_path)])
    err = capsys.readouterr().err
    assert err.startswith("error: no finished run directories under") and err.count("\n") == 1


def test_mixed_run_kinds_are_refused_even_with_an_explicit_metric(tmp_path, capsys):
    federated_run(tmp_path, "fedavg", 0, None, None, 0.6)
    generator_run(tmp_path, "gen-none", {"epsilon": None, "guarantee": "none (non-private)"}, 0.5)
    with pytest.raises(SystemExit) as exit_info:
        main(["privacy-utility", str(tmp_path), "--metric", "personal_accuracy_client_mean"])
    assert exit_info.value.code == 2
    assert "mix federated and generator runs" in capsys.readouterr().err
    assert not (tmp_path / "privacy_utility.png").exists()


def test_a_metric_some_runs_lack_is_refused_naming_one(tmp_path, capsys):
    federated_run(tmp_path / "a", "fedavg", 0, None, None, 0.6)
    federated_run(tmp_path / "b", "fedavg", 1, None, None, 0.6)
    summary = tmp_path / "b" / "fedavg-nonprivate-s1" / "summary.json"
    summary.write_text(summary.read_text().replace("personal_accuracy_client_mean", "other_metric"))
    with pytest.raises(SystemExit) as exit_info:
        main(["privacy-utility", str(tmp_path / "a"), str(tmp_path / "b"), "--metric",
              "personal_accuracy_client_mean"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "1 of 2 runs lack it (e.g. " in err and "fedavg-nonprivate-s1" in err and err.count("\n") == 1
