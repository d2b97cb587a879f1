"""The private generation benchmark's presets compose into valid configs for every row and data set."""

import pytest

from benchmarks.gen_presets import PRESETS, preset_overrides, runs_on
from benchmarks.private_generation import COMMON, ROWS, plan_jobs
from fedkd.errors import UserError
from private_gen.config import load_generation

# between them, every override group a row uses: pretraining, DP, energy, the network, DP-MERF, none
COVERING_ROWS = ("real", "energy-dsm-mhmc DP ε=10, glyph pretraining",
                 "dsm-hmc glyph pretraining only (no private data)", "ssm-hmc nonprivate, no residual enhancement",
                 "dp-merf DP ε=10", "dsm-hmc DP ε=10, DP-MERF warm start")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_kind_of_row_composes_on_every_data_set_of_a_preset_and_keeps_its_own_settings(preset, tmp_path):
    for dataset in PRESETS[preset].datasets:
        for row in COVERING_ROWS:
            own = ROWS[row]
            if not runs_on(preset, dataset, own):
                assert dataset == "fashion_mnist" and "pretrain=glyphs" in own
                continue
            overrides = preset_overrides(preset, dataset, [*COMMON, *own], str(tmp_path))
            config = load_generation([*overrides, "device=cpu"])  # this machine has no CUDA device
            assert config.dataset.name == dataset
            if "generator.objective.kind=dsm" in own:
                assert config.generator.objective.kind == "dsm", row
            if "pretrain=glyphs" in own:
                assert config.pretrain.name == ("procedural_faces" if dataset == "faces" else "glyphs"), row


def test_the_gpu_preset_scales_the_score_model_and_reads_local_files(tmp_path):
    overrides = preset_overrides("gpu", "mnist", ["pretrain=glyphs"], str(tmp_path))
    config = load_generation([*overrides, "device=cpu"])
    assert config.generator.network.width == 64 and config.generator.noise.sigma_max is None
    assert config.evaluation.num_samples == 10000 and config.pretrain.glyphs.count == 60000
    assert config.dataset.root == str(tmp_path)
    assert config.sampler.batch_size == 2000
    assert "device=cuda" in overrides


def test_a_preset_that_reads_local_files_refuses_to_start_without_a_data_root():
    with pytest.raises(UserError, match="--data-root"):
        preset_overrides("gpu", "fashion_mnist", [], None)
    with pytest.raises(UserError, match="--data-root"):
        preset_overrides("gpu", "mnist", [], "")  # make gen-table-gpu without DATA_ROOT


def test_every_rows_first_seed_runs_before_any_other_seed_and_the_real_row_once():
    rows = ["real", "dsm-hmc DP ε=10, glyph pretraining", "dp-merf DP ε=10"]
    jobs = plan_jobs("cpu", ["mnist_subset"], rows, [3, 1, 2])
    assert jobs[:3] == [("mnist_subset", "real", 0), ("mnist_subset", rows[1], 3), ("mnist_subset", rows[2], 3)]
    assert jobs[3:] == [("mnist_subset", rows[1], 1), ("mnist_subset", rows[1], 2),
                        ("mnist_subset", rows[2], 1), ("mnist_subset", rows[2], 2)]


def test_the_cpu_preset_trains_mnist_score_rows_40_epochs_and_leaves_dp_merf_alone():
    score = load_generation(preset_overrides("cpu", "mnist_subset", ["generator.objective.kind=dsm"], None))
    merf = load_generation(preset_overrides("cpu", "mnist_subset", ["generator=dp_merf"], None))
    assert score.generator.train.epochs == 40 and score.sampler.evals_per_level == 4
    assert merf.generator.name == "dp_merf" and not hasattr(merf.generator.train, "epochs")


def test_a_rows_own_setting_wins_over_the_presets():
    overrides = preset_overrides("cpu", "mnist_subset", ROWS["dsm-hmc glyph pretraining only (no private data)"], None)
    assert load_generation(overrides).generator.train.epochs == 0


def _run_row(row: str, seed: int, cnn: float, epsilon: float | None) -> dict:
    privacy = ({"epsilon": epsilon, "delta": 1e-5, "accountant": "prv", "noise_multiplier": 0.9, "steps": 400,
                "pretraining": "glyphs"} if epsilon else {"guarantee": "none (non-private)"})
    return {"dataset": "digits", "row": row, "seed": seed, "samples": 1000, "frechet_distance": 10.0 + seed,
            "cnn_accuracy": cnn, "logreg_accuracy": 0.5, "train_seconds": 100.0, "sample_seconds": 50.0,
            "score_evaluations_per_sample": 385, "metropolis_acceptance": [0.91, 0.97], "privacy": privacy}


def test_a_table_read_back_writes_the_same_table_and_a_later_run_adds_rows_without_dropping_any(tmp_path):
    from benchmarks.private_generation import merge_rows, read_table_rows, write_tables

    csv_path, md_path = tmp_path / "t.csv", tmp_path / "t.md"
    written = [_run_row("dsm-hmc nonprivate", 0, 0.7, None), _run_row("dsm-hmc nonprivate", 1, 0.8, None),
               _run_row("dp-merf DP ε=10", 0, 0.6, 10.0)]
    write_tables(written, csv_path, md_path)
    table = md_path.read_text()
    assert "none (non-private)" in table and "ε=10.00, δ=1e-05 (PRV)" in table and "0.91–0.97" in table
    assert "0.750 ± 0.071" in table  # the two seeds' mean and sample std

    write_tables(merge_rows(read_table_rows(csv_path), []), csv_path, md_path)  # a fresh clone: no results
    assert md_path.read_text() == table

    rerun = _run_row("dp-merf DP ε=10", 0, 0.65, 10.0)
    new = _run_row("dp-merf DP ε=10", 1, 0.75, 10.0)
    write_tables(merge_rows(read_table_rows(csv_path), [rerun, new]), csv_path, md_path)
    merged = read_table_rows(csv_path)
    assert [(r["row"], r["seed"], r["cnn_accuracy"]) for r in merged] == [
        ("dsm-hmc nonprivate", 0, 0.7), ("dsm-hmc nonprivate", 1, 0.8), ("dp-merf DP ε=10", 0, 0.65),
        ("dp-merf DP ε=10", 1, 0.75)]
    assert "| digits | dp-merf DP ε=10 | ε=10.00, δ=1e-05 (PRV) | 2 |" in md_path.read_text()


def test_the_cpu_presets_digits_rows_go_to_their_own_table_and_the_mnist_rows_stay_in_theirs():
    from benchmarks.private_generation import rows_by_table

    digits = _run_row("dp-merf DP ε=10", 0, 0.9, 10.0)
    mnist = _run_row("dp-merf DP ε=10", 0, 0.7, 10.0) | {"dataset": "mnist_subset"}
    tables = rows_by_table("cpu", ["digits"], [mnist, digits])
    assert tables == {"private_generation_digits": [digits], "private_generation": [mnist]}
    assert rows_by_table("gpu", ["mnist"], []) == {"private_generation_gpu": []}


def test_an_interrupted_row_resumes_from_its_checkpoints_and_another_configs_run_is_left_alone(tmp_path, monkeypatch,
                                                                                                capsys):
    from benchmarks.private_generation import _resuming
    from fedkd.checkpoint.interrupts import Interrupted
    from private_gen.experiment import run_generation
    from tests.test_training_resume import DP_GEN, stop_after

    config = load_generation(DP_GEN)
    assert _resuming(config, tmp_path, 0) is config  # nothing interrupted yet
    stop_after(monkeypatch, "dp-sgd", 1)
    with pytest.raises(Interrupted):
        run_generation(config, tmp_path)
    monkeypatch.undo()
    [stopped] = tmp_path.glob("*-s0.incomplete")
    resumed = _resuming(config, tmp_path, 0)
    assert resumed.resume == str(stopped)
    assert run_generation(resumed, tmp_path) == stopped.with_name(stopped.name.removesuffix(".incomplete"))
    stop_after(monkeypatch, "dp-sgd", 1)
    with pytest.raises(Interrupted):
        run_generation(config, tmp_path)
    other = load_generation([*DP_GEN, "generator.train.lr=0.01"])
    assert _resuming(other, tmp_path, 0) is other
    assert "not resuming" in capsys.readouterr().out
