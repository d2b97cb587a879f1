"""The run directory every command writes: `.incomplete` while running, renamed when finished, kept as
`.failed` with error.txt when the run raises (the commands' errors: tests/test_bad_input_battery.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml

from fedkd.results.run_dir import OutputSettings, RunDirectory, write_run


@dataclass
class TinySettings:
    seed: int = 3
    output: OutputSettings = field(default_factory=lambda: OutputSettings(name="tiny"))


def test_a_finished_run_has_its_config_and_summary_and_no_staging_folder(tmp_path):
    seen = []

    def work(run: RunDirectory):
        seen.append(run.path.name)
        (run.path / "metrics.csv").write_text("a\n1\n")
        return {"score": 0.5}, "| score |"

    path = write_run(TinySettings(), TinySettings().output, work, tmp_path)
    assert seen[0].endswith("-tiny.incomplete") and path.name == seen[0].removesuffix(".incomplete")
    assert {p.name for p in path.iterdir()} == {"config.yaml", "metrics.csv", "summary.json", "summary.md"}
    assert yaml.safe_load((path / "config.yaml").read_text()) == {"seed": 3, "output": {"root": "results",
                                                                                        "name": "tiny"}}
    assert list(tmp_path.iterdir()) == [path]


def test_a_run_that_raises_is_kept_as_failed_with_its_error(tmp_path):
    def work(run: RunDirectory):
        (run.path / "rounds.csv").write_text("round\n1\n")
        raise ValueError("round 2 diverged")

    with pytest.raises(ValueError, match="round 2 diverged"):
        write_run(TinySettings(), TinySettings().output, work, tmp_path)
    (failed,) = tmp_path.iterdir()
    assert failed.name.endswith("-tiny.failed")
    assert {p.name for p in failed.iterdir()} == {"config.yaml", "rounds.csv", "error.txt"}
    error = (failed / "error.txt").read_text()
    assert error.startswith("ValueError: round 2 diverged") and "Traceback" in error


def test_runs_of_the_same_name_in_the_same_second_do_not_collide(tmp_path):
    first = RunDirectory(tmp_path, "same")
    second = RunDirectory(tmp_path, "same")
    assert first.path != second.path and second.path.name.endswith("-same-2.incomplete")


def test_a_strict_csv_refuses_a_row_key_without_a_column(tmp_path):
    run = RunDirectory(tmp_path, "csv")
    log = run.open_csv("clients.csv", ("round", "loss_ce"), strict=True, unlogged=("num-examples",))
    log.append([{"round": 1, "loss_ce": 0.5, "num-examples": 3}])
    with pytest.raises(RuntimeError, match=r"clients\.csv has no column for loss_new"):
        log.append([{"round": 2, "loss_ce": 0.4, "loss_new": 1.0}])
    run.finish({}, "")
    assert (run.path / "clients.csv").read_text().splitlines() == ["round,loss_ce", "1,0.5"]
