"""Learning curves: every federated run directory gets curves.png/svg, and `fedkd-plot curves` overlays runs with
one line per method, mean ± std over seeds at every round all seeds evaluated."""

from __future__ import annotations

import csv

import pytest

from fedkd.commands.plot import main as plot_main
from tests.helpers import run_tiny

TINY = ["dataset=digits", "lowres=none", "num_rounds=3", "simulation.num_clients=3", "simulation.backend=inprocess",
        "train.local_epochs=1", "partition=iid", "simulation.evaluate_every=2"]


def test_curves_overlay_one_line_per_method_with_seed_statistics(tmp_path, capsys):
    finals = {}
    for strategy in ("fedavg", "fedckd"):
        for seed in (0, 1):
            rounds, _, path = run_tiny(tmp_path / "runs", [*TINY, f"strategy={strategy}", f"seed={seed}"])
            assert (path / "curves.png").is_file() and (path / "curves.svg").is_file()
            assert "loss_ce" in rounds[0]
            finals.setdefault(strategy, []).append(float(rounds[-1]["personal_accuracy_client_mean"]))
    out = tmp_path / "overlay"
    plot_main(["curves", str(tmp_path / "runs"), "--out", str(out)])
    assert out.with_suffix(".png").is_file() and out.with_suffix(".svg").is_file()
    with open(out.with_suffix(".csv")) as fh:
        points = list(csv.DictReader(fh))
    personal = [p for p in points if p["metric"] == "personal_accuracy_client_mean"]
    assert {p["line"] for p in personal} == {"fedavg", "fedckd"}
    assert sorted(int(p["round"]) for p in personal if p["line"] == "fedavg") == [2, 3]  # the evaluated rounds
    for strategy, values in finals.items():
        (last,) = [p for p in personal if p["line"] == strategy and p["round"] == "3"]
        assert int(last["seeds"]) == 2 and float(last["mean"]) == pytest.approx(sum(values) / 2)


def test_curves_of_an_unknown_metric_fail_with_one_line(tmp_path, capsys):
    run_tiny(tmp_path, [*TINY, "num_rounds=1"])
    with pytest.raises(SystemExit) as exit_info:
        plot_main(["curves", str(tmp_path), "--metric", "no_such_column"])
    assert exit_info.value.code == 2
    assert "none of the runs has the metric(s) no_such_column" in capsys.readouterr().err
