"""The face-distillation pipeline end to end on a tiny face set: every method and schedule runs, the
teacher is cached and reused, results land in the run directory, and bad input fails with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import get_class

from fedkd.errors import UserError
from fedkd.face_experiment.config import FacesConfig, load_faces
from fedkd.face_experiment.experiment import degrade, load_split, run_faces
from fedkd.faces import teacher_store
from fedkd.faces.evaluation import embed, protocol_metrics
from fedkd.paths import config_dir
from fedkd.training.adabn import adapt_batchnorm

TINY = ["dataset.num_identities=16", "dataset.images_per_identity=6", "dataset.resolution=32",
        "dataset.num_families=4", "evaluation.eval_identities=6", "evaluation.num_pairs=40",
        "evaluation.gallery_per_identity=1", "teacher.widths=[8,16]", "teacher.train.epochs=2",
        "teacher.route_anchors=2", "student.widths=[8,16]", "student.train.epochs=2", "lowres.size=8",
        "teacher.train.progress=false", "student.train.progress=false"]
METHODS = sorted(p.stem for p in (config_dir() / "face_method").glob("*.yaml"))
SHORT_SCHEDULES = ["face_method.bridge_epochs=1"]


def tiny_config(*overrides: str) -> FacesConfig:
    return load_faces([*TINY, *overrides])


def run(config: FacesConfig, root: Path) -> tuple[Path, dict]:
    path = run_faces(config, root)
    return path, json.loads((path / "summary.json").read_text())


def saved_student_metrics(config: FacesConfig, path: Path) -> dict:
    """The protocols recomputed from the run's student.pt (with AdaBN where the method uses it)."""
    split = load_split(config)
    student = config.student.build(split.train_hr.shape[1], split.num_train_identities, config.lowres.size,
                                   config.teacher.embedding_dim)
    student.load_state_dict(torch.load(path / "student.pt", weights_only=True))
    eval_lr = degrade(config.lowres, split.eval_hr, seed=10_007)
    if config.face_method.adabn:
        adapt_batchnorm(student, eval_lr)
    return protocol_metrics(embed(student, eval_lr, config.evaluation.flip), split.eval_y, config.evaluation,
                            config.evaluation.split_seed)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_reports_the_protocols(method, tmp_path):
    extra = SHORT_SCHEDULES if method == "bridge" else []
    if method == "hybrid_order_assistant":
        extra = ["face_method.assistant_epochs=1"]
    config = tiny_config(f"face_method={method}", *extra)
    path, summary = run(config, tmp_path)
    assert {p.name for p in path.iterdir()} == {"config.yaml", "history.jsonl", "summary.json", "summary.md",
                                                "student.pt"}
    for prefix in ("teacher_hr", "teacher_lr_upsampled", "student"):
        assert summary[f"{prefix}_rank1"] <= summary[f"{prefix}_rank5"]
    # The reported student is the saved one: its protocols, recomputed from student.pt, are the same numbers.
    recomputed = saved_student_metrics(config, path)
    assert {k: summary[f"student_{k}"] for k in recomputed} == pytest.approx(recomputed)
    history = [json.loads(line) for line in (path / "history.jsonl").read_text().splitlines()]
    assert history and all(math_finite(row["loss"]) for row in history)
    student_rows = [row for row in history if row.get("step", 2) == 2]
    declared = get_class(config.face_method.distiller["_target_"]).terms
    logged = {k for row in student_rows for k in row if k.startswith("kd_")}
    assert logged <= set(declared) | {"kd_guide", "kd_logits"}  # evolutionary logs its own guide and logit terms
    assert "student (LR)" in (path / "summary.md").read_text()
    assert path.parent == tmp_path and not any(p.name.endswith(".incomplete") for p in tmp_path.iterdir())


def math_finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def test_teacher_is_trained_once_and_reused(tmp_path, monkeypatch):
    _, first = run(tiny_config("face_method=none", "teacher.seed=7"), tmp_path / "first")

    def fail(*args, **kwargs):
        raise AssertionError("the cached teacher should have been reused")

    monkeypatch.setattr(teacher_store, "train_teacher", fail)
    _, second = run(tiny_config("face_method=none", "teacher.seed=7", "seed=3"), tmp_path / "second")
    assert first["teacher_checkpoint"] == second["teacher_checkpoint"]
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
    result = subprocess.run([sys.executable, "-c", "from fedkd.commands.faces import main; main()",
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
    config = load_faces([*overrides, "dataset=imagefolder", f"dataset.root={tmp_path / 'faces'}",
                         "dataset.resolution=32", "evaluation.eval_identities=4", "face_method=feature_kd"])
    _, summary = run(config, tmp_path / "run")
    # 12 folders, 4 held out: the student's cosine head has one 128-d centre per remaining identity.
    assert summary["student_head_parameters"] == 8 * 128
    assert summary["student_rank1"] <= summary["student_rank5"]
