"""`fedkd-gen` and `fedkd-faces` stop at an epoch's end on a signal and resume from their stage checkpoints:
the resumed run equals one that never stopped (DP-SGD's ε and steps included, a face teacher's route
included), and a damaged or foreign checkpoint is refused in one line."""

from __future__ import annotations

import dataclasses
import json
import signal
from pathlib import Path

import pytest
import torch

from fedkd.checkpoint.interrupts import INTERRUPTED_EXIT_CODE, STOP, Interrupted
from fedkd.checkpoint.training_checkpoint import StageCheckpoint
from fedkd.errors import UserError
from fedkd.face_experiment.config import load_faces
from fedkd.face_experiment.experiment import run_faces
from private_gen.config import load_generation
from private_gen.experiment import run_generation
from tests.test_face_experiment import TINY as FACES_TINY
from tests.test_gen_experiment import MERF
from tests.test_gen_experiment import TINY as GEN_TINY

DP_GEN = [*GEN_TINY, "generator.train.epochs=3", "gen_privacy=dp", "gen_privacy.accountant=rdp"]
TIMES = ("seconds", "train_seconds", "sample_seconds", "checkpoint_bytes")


def stop_after(monkeypatch: pytest.MonkeyPatch, stage: str, epoch: int) -> None:
    """As if SIGTERM arrived during `epoch` of `stage`."""
    original = StageCheckpoint.end_of_epoch

    def end_of_epoch(self, done, epochs, parts, history, extra=None):
        if self.name == stage and done == epoch:
            STOP.signal = signal.SIGTERM
        return original(self, done, epochs, parts, history, extra)

    monkeypatch.setattr(StageCheckpoint, "end_of_epoch", end_of_epoch)


def stopped_run(root: Path) -> Path:
    [path] = [p for p in root.iterdir() if p.name.endswith(".incomplete")]
    return path


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMES} for row in rows]


def read_run(path: Path) -> dict:
    history = [json.loads(line) for line in (path / "history.jsonl").read_text().splitlines()]
    summary = json.loads((path / "summary.json").read_text())
    return {"history": untimed(history), "summary": untimed([summary])[0]}


def test_dp_generation_stopped_mid_training_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    config = load_generation(DP_GEN)
    reference = run_generation(config, tmp_path / "reference")
    stop_after(monkeypatch, "dp-sgd", 1)
    with pytest.raises(Interrupted, match=r"after epoch 1 of dp-sgd .*fedkd-gen resume=") as stop:
        run_generation(config, tmp_path / "stopped")
    assert stop.value.exit_code == INTERRUPTED_EXIT_CODE
    monkeypatch.undo()
    stopped = stopped_run(tmp_path / "stopped")
    assert (stopped / "checkpoints" / "stage-dp-sgd.ckpt").is_file() and not (stopped / "summary.json").exists()

    resumed = run_generation(dataclasses.replace(config, resume=str(stopped)), tmp_path / "unused")
    assert resumed == stopped.with_name(stopped.name.removesuffix(".incomplete"))
    assert read_run(resumed) == read_run(reference)  # ε, steps, losses and sample quality, bit for bit
    assert json.loads((resumed / "privacy.json").read_text()) == json.loads((reference / "privacy.json").read_text())
    assert not (resumed / "checkpoints").exists()
    weights = torch.load(resumed / "generator.pt"), torch.load(reference / "generator.pt")
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])


def test_dp_merf_stopped_mid_fitting_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    """A signal used to wait for DP-MERF's whole fitting; now it stops after a block of 100 generator steps."""
    config = load_generation([*MERF, "generator.train.steps=250", "gen_privacy=dp", "gen_privacy.accountant=rdp"])
    reference = run_generation(config, tmp_path / "reference")
    stop_after(monkeypatch, "dp-merf generator", 1)
    with pytest.raises(Interrupted, match=r"after epoch 1 of dp-merf generator"):
        run_generation(config, tmp_path / "stopped")
    monkeypatch.undo()
    stopped = stopped_run(tmp_path / "stopped")
    resumed = run_generation(dataclasses.replace(config, resume=str(stopped)), tmp_path / "unused")
    assert read_run(resumed) == read_run(reference)
    assert [row["step"] for row in read_run(resumed)["history"]] == [100, 200, 250]
    weights = torch.load(resumed / "generator.pt"), torch.load(reference / "generator.pt")
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])


def test_a_damaged_or_foreign_stage_checkpoint_is_refused(tmp_path, monkeypatch):
    config = load_generation(DP_GEN)
    stop_after(monkeypatch, "dp-sgd", 1)
    with pytest.raises(Interrupted):
        run_generation(config, tmp_path)
    monkeypatch.undo()
    stopped = stopped_run(tmp_path)
    with pytest.raises(UserError, match=r"started with another config .*\(only checkpoint.\* may change\)"):
        run_generation(dataclasses.replace(config, seed=5, resume=str(stopped)), tmp_path)
    stage = stopped / "checkpoints" / "stage-dp-sgd.ckpt"
    blob = bytearray(stage.read_bytes())
    blob[-10] ^= 0xFF
    stage.write_bytes(bytes(blob))
    with pytest.raises(UserError, match=r"stage-dp-sgd.ckpt is corrupt .* delete stage-dp-sgd.ckpt to train"):
        run_generation(dataclasses.replace(config, resume=str(stopped)), tmp_path)
    assert stopped.is_dir() and stage.is_file()  # nothing was overwritten


def test_faces_stopped_in_the_teacher_resume_with_its_route_to_the_uninterrupted_result(tmp_path, monkeypatch):
    config = load_faces([*FACES_TINY, "teacher.train.epochs=3", "teacher.seed=11"])  # a teacher no test caches
    reference = run_faces(config, tmp_path / "reference")
    teacher_file = Path(json.loads((reference / "summary.json").read_text())["teacher_checkpoint"])
    reference_route = torch.load(teacher_file)["route"]
    teacher_file.unlink()  # the stopped run must train the teacher again

    stop_after(monkeypatch, "teacher", 2)  # after the first of its two route anchors
    with pytest.raises(Interrupted, match=r"after epoch 2 of teacher .*fedkd-faces resume="):
        run_faces(config, tmp_path / "stopped")
    monkeypatch.undo()
    stopped = stopped_run(tmp_path / "stopped")
    assert not teacher_file.exists()
    resumed = run_faces(dataclasses.replace(config, resume=str(stopped)), tmp_path / "unused")
    route = torch.load(teacher_file)["route"]
    assert len(route) == len(reference_route) == 2
    assert all(torch.equal(a[k], b[k]) for a, b in zip(route, reference_route, strict=True) for k in a)
    assert read_run(resumed) == read_run(reference)


def test_a_rerun_sweep_skips_finished_jobs_and_resumes_an_interrupted_one(tmp_path, monkeypatch):
    import subprocess
    import sys

    from fedkd.checkpoint.sweep_jobs import sweep_job
    from tests.test_gen_experiment import MERF

    sweep = tmp_path / "sweep"
    for seed in (0, 1):  # two jobs of an earlier sweep that finished (run in-process to save a launcher start)
        run_generation(load_generation([*MERF, f"output.root={tmp_path}", f"seed={seed}"]), sweep)
    first = sorted(p.name for p in sweep.iterdir())
    rerun = subprocess.run([sys.executable, "-c", "from fedkd.commands.gen import main; main()", "-m", *MERF,
                            f"hydra.sweep.dir={sweep}", f"output.root={tmp_path}", "seed=0,1,2"],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("already finished") == 2
    finished = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.isdigit())
    assert len(finished) == 3 and set(first) < set(finished)

    config = load_generation([*DP_GEN, f"output.root={tmp_path}"])  # a job stopped mid-training in the folder
    stop_after(monkeypatch, "dp-sgd", 1)
    with pytest.raises(Interrupted):
        run_generation(config, sweep)
    monkeypatch.undo()
    settings, done = sweep_job(sweep, config)
    assert done is None and settings.resume == str(stopped_run(sweep))
    assert sweep_job(sweep, dataclasses.replace(config, seed=9)) == (dataclasses.replace(config, seed=9), None)
