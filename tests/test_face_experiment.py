"""The face-distillation pipeline end to end on a tiny face set: every method and schedule runs, the
teacher is cached and reused, results land in the run directory, and bad input fails with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fedkd.config.compose import compose_config
from fedkd.errors import UserError
from fedkd.faces import teacher_store
from fedkd.faces.config_check import validate_faces
from fedkd.faces.experiment import run_face_experiment
from fedkd.paths import config_dir

TINY = ["dataset.num_identities=16", "dataset.images_per_identity=6", "dataset.resolution=32",
        "dataset.num_families=4", "evaluation.eval_identities=6", "evaluation.num_pairs=40",
        "evaluation.gallery_per_identity=1", "teacher.widths=[8,16]", "teacher.train.epochs=2",
        "teacher.route_anchors=2", "student.widths=[8,16]", "student.train.epochs=2", "lowres.size=8",
        "teacher.train.progress=false", "student.train.progress=false"]
METHODS = sorted(p.stem for p in (config_dir() / "face_method").glob("*.yaml"))
SHORT_SCHEDULES = ["face_method.bridge_epochs=1"]


def tiny_config(*overrides: str) -> dict:
    return validate_faces(compose_config([*TINY, *overrides], config_name="faces"))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_reports_the_protocols(method, tmp_path):
    extra = SHORT_SCHEDULES if method == "bridge" else []
    if method == "hybrid_order_assistant":
        extra = ["face_method.assistant_epochs=1"]
    metrics = run_face_experiment(tiny_config(f"face_method={method}", *extra), tmp_path / method)
    for prefix in ("teacher_hr", "teacher_lr_upsampled", "student"):
        assert 0.0 <= metrics[f"{prefix}_verification_accuracy"] <= 1.0
        assert 0.0 <= metrics[f"{prefix}_rank1"] <= metrics[f"{prefix}_rank5"] <= 1.0
    assert 0.0 <= metrics["student_cross_resolution_rank1"] <= 1.0
    history = [json.loads(line) for line in (tmp_path / method / "history.jsonl").read_text().splitlines()]
    assert history and all(math_finite(row["loss"]) for row in history)
    assert json.loads((tmp_path / method / "metrics.json").read_text())["student_parameters"] > 0
    assert "student (LR)" in (tmp_path / method / "summary.md").read_text()
    assert not (tmp_path / f"{method}.incomplete").exists()


def math_finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def test_teacher_is_trained_once_and_reused(tmp_path, monkeypatch):
    config = tiny_config("face_method=none", "teacher.seed=7")
    run_face_experiment(config, tmp_path / "first")

    def fail(*args, **kwargs):
        raise AssertionError("the cached teacher should have been reused")

    monkeypatch.setattr(teacher_store, "train_teacher", fail)
    second = run_face_experiment(tiny_config("face_method=none", "teacher.seed=7", "seed=3"), tmp_path / "second")
    first = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert first["teacher_checkpoint"] == json.loads((tmp_path / "second" / "metrics.json").read_text())[
        "teacher_checkpoint"]
    assert second["teacher_hr_verification_accuracy"] == first["teacher_hr_verification_accuracy"]


@pytest.mark.parametrize(("override", "message"), [
    ("face_method.distiller._target_=os.path.join", "face_method.distiller._target_='os.path.join' is invalid"),
    ("face_method.distiller.lambda_feature=-1", "face_method.distiller.lambda_feature=-1 is invalid"),
    ("+face_method.distiller.gamma=0.4", "face_method.distiller.gamma is not a parameter of LogitFeatureKD"),
    ("lowres.size=64", "lowres.size=64 is invalid; allowed: at most dataset.resolution=32"),
    ("teacher.train.loss=softmax", "teacher.train.loss='softmax' is invalid"),
    ("evaluation.gallery_per_identity=6", "evaluation.gallery_per_identity=6 is invalid"),
])
def test_bad_values_are_refused_with_one_line(override, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(")):
        tiny_config(override)


def test_cli_reports_a_bad_value_in_one_line_and_writes_nothing(tmp_path):
    result = subprocess.run([sys.executable, "-c", "from fedkd.faces.cli import main; main()",
                             "face_method=cckd", "lowres.size=100", f"output.root={tmp_path}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: lowres.size=100 is invalid; allowed: at most dataset.resolution=64"]
    assert not any(Path(tmp_path).iterdir())


def test_a_user_image_folder_runs_through_the_protocols(tmp_path):
    from PIL import Image

    from fedkd.data.synthetic_faces import FaceSpec, generate_faces

    images, labels = generate_faces(FaceSpec(num_identities=12, images_per_identity=5, resolution=32,
                                             num_families=3, seed=4))
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / "faces" / f"person_{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    overrides = [o for o in TINY if not o.startswith("dataset.")]
    config = validate_faces(compose_config(
        [*overrides, "dataset=imagefolder", f"dataset.root={tmp_path / 'faces'}", "dataset.resolution=32",
         "evaluation.eval_identities=4", "face_method=feature_kd"], config_name="faces"))
    metrics = run_face_experiment(config, tmp_path / "run")
    assert 0.0 <= metrics["student_verification_accuracy"] <= 1.0
    assert metrics["teacher_hr_rank1"] >= 0.0
