"""`fedkd-gen` end to end on a small slice of the digits: every generator and privacy mode writes a
complete run directory, every ε names its δ and accountant, projection perturbation is labelled as
not a formal guarantee everywhere, and bad input fails with one line."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from fedkd.errors import UserError
from private_gen.config import GenConfig, load_generation
from private_gen.experiment import resample, run_generation

TINY = ["dataset=digits", "data.max_train=160", "generator.network.width=8", "generator.noise.num_levels=3",
        "generator.train.epochs=1", "generator.train.batch_size=32", "generator.train.progress=false",
        "evaluation.num_samples=40", "evaluation.evaluator_epochs=1", "evaluation.classifier_epochs=1",
        "evaluation.logreg_max_iter=20", "sampler.evals_per_level=4", "sampler.batch_size=40"]
MERF = ["dataset=digits", "data.max_train=160", "generator=dp_merf", "generator.num_features=100",
        "generator.train.steps=20", "generator.train.progress=false", "evaluation.num_samples=40",
        "evaluation.evaluator_epochs=1", "evaluation.classifier_epochs=1", "evaluation.logreg_max_iter=20"]
FACES = ["dataset=faces", "dataset.num_identities=6", "dataset.images_per_identity=8", "dataset.resolution=32",
         "data.resolution=16", *TINY[1:]]
FILES = {"config.yaml", "history.jsonl", "summary.json", "privacy.json", "summary.md", "samples.png", "samples.pt",
         "generator.pt"}


def config(*overrides: str) -> GenConfig:
    return load_generation(list(overrides))


def generate(tmp_path, *overrides: str) -> tuple[object, dict]:
    path = run_generation(config(*overrides), tmp_path)
    return path, json.loads((path / "summary.json").read_text())


@pytest.mark.parametrize("overrides", [
    [*TINY], [*TINY, "gen_privacy=dp", "gen_privacy.accountant=rdp"], [*TINY, "sampler=langevin"],
    [*TINY, "gen_privacy=projection_perturbation"], [*MERF], [*MERF, "gen_privacy=dp"], FACES,
    [*TINY, "gen_privacy=dp", "generator.parameterization=energy", "generator.objective.kind=dsm"],
], ids=["ssm-hmc", "ssm-dp", "ssm-langevin", "ssm-projection", "merf", "merf-dp", "faces-rgb-16px",
        "energy-dsm-dp-metropolis"])
def test_every_mode_writes_a_complete_run_directory(overrides, tmp_path):
    run, metrics = generate(tmp_path, *overrides)
    energy = "generator.parameterization=energy" in overrides
    assert {p.name for p in run.iterdir()} == FILES | ({"acceptance.png", "acceptance.svg"} if energy else set())
    assert len(metrics["metropolis_acceptance"]) == (3 if energy else 0)
    assert run.parent == tmp_path and not any(p.name.endswith(".incomplete") for p in tmp_path.iterdir())
    assert metrics["frechet_distance"] > 0
    faces = "dataset=faces" in overrides
    # The held-out real split: 20% of the 1,797 digits or of the 48 faces; the private split: max_train=160 digits.
    assert (metrics["train_images"], metrics["test_images"]) == ((38, 10) if faces else (160, 359))
    for key in ("cnn_accuracy", "logreg_accuracy"):  # accuracies over exactly that split
        correct = metrics[key] * metrics["test_images"]
        assert correct == pytest.approx(round(correct), abs=1e-6)
    samples = torch.load(run / "samples.pt", weights_only=True)
    assert samples["images"].dtype == torch.uint8 and samples["images"].shape == ((40, 3, 16, 16) if faces
                                                                                  else (40, 1, 8, 8))
    assert torch.bincount(samples["labels"]).tolist() == ([7, 7, 7, 7, 6, 6] if faces else [4] * 10)
    privacy = json.loads((run / "privacy.json").read_text())
    summary = (run / "summary.md").read_text()
    if "gen_privacy=dp" in " ".join(overrides):
        assert 0 < privacy["epsilon"] <= 10.0 and privacy["delta"] == 1e-5 and privacy["accountant"] in ("rdp", "prv")
        assert "sample-level" in privacy["scope"] and "δ=1e-05" in summary
    elif "projection_perturbation" in " ".join(overrides):
        assert privacy["epsilon"] is None and privacy["guarantee"] == "not a formal DP guarantee"
        assert "not a formal DP guarantee" in summary
        saved = yaml.safe_load((run / "config.yaml").read_text())
        assert saved["gen_privacy"]["guarantee"] == "not a formal DP guarantee"
    else:
        assert privacy["epsilon"] is None and privacy["mechanism"] == "none"


@pytest.mark.parametrize(("overrides", "message"), [
    (["gen_privacy=dp", "gen_privacy.accountant=gdp"], "gen_privacy.accountant='gdp' is invalid"),
    (["generator.noise.sigma_min=2.0"],
     "generator.noise.sigma_min=2 is invalid; allowed: less than generator.noise.sigma_max=1"),
    (["generator=dp_merf", "gen_privacy=projection_perturbation"], "gen_privacy='projection_perturbation'"),
    (["gen_privacy=projection_perturbation", "gen_privacy.guarantee=(1,1)-DP"], "gen_privacy.guarantee="),
    (["+generator.typo=1"], "generator.typo is not a known config key of generator=score_ssm"),
    (["generator=dp_merf", "data.class_conditional=false"], "data.class_conditional=False is invalid; allowed: true"),
    (["data.resolution=100"], "data.resolution=100 is invalid"),
    (["generator.objective.kind=dsm", "gen_privacy=projection_perturbation"], "generator.objective.kind='dsm'"),
    (["device=tpu"], "device='tpu' is invalid"),
    (["gen_privacy=dp", "generator.train.epochs=0"], "generator.train.epochs=0 is invalid; allowed: at least 1"),
    (["dataset=faces", "pretrain=glyphs"], "pretrain='glyphs' is invalid; allowed: procedural_faces"),
    (["pretrain=procedural_faces"], "pretrain='procedural_faces' is invalid; allowed: glyphs"),
    (["generator=dp_merf", "pretrain=glyphs"], "pretrain='glyphs' is invalid; allowed: none with generator=dp_merf"),
    (["pretrain=glyphs", "pretrain.glyphs.fonts=[Comic.ttf]"], "pretrain.glyphs.fonts='Comic.ttf' is invalid"),
    (["generator.train.trainable=conditioning"],
     "generator.train.trainable='conditioning' is invalid; allowed: all with pretrain=none"),
    (["generator.train.trainable=convs"], "generator.train.trainable='convs' is invalid"),
    (["sampler.guidance=1"], "sampler.guidance=1 is invalid; allowed: 0, or train the null class"),
    (["generator=dp_merf", "sampler.guidance=1"], "sampler.guidance=1 is invalid; allowed: 0 with generator=dp_merf"),
    (["generator.objective.label_dropout=0.1", "data.class_conditional=false"],
     "generator.objective.label_dropout=0.1 is invalid; allowed: 0 with data.class_conditional=false"),
    (["generator.objective.label_dropout=1"], "generator.objective.label_dropout=1 is invalid"),
])
def test_bad_values_are_refused_with_the_key_named(overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(*overrides)


def test_resampling_a_run_with_langevin_reuses_the_trained_network(tmp_path):
    run, first = generate(tmp_path, *TINY, "gen_privacy=dp")
    again = resample(config(*TINY, "gen_privacy=dp", "sampler=langevin"), run)
    assert again["privacy"] == first["privacy"] and again["train_seconds"] == first["train_seconds"]
    assert again["score_evaluations_per_sample"] == first["score_evaluations_per_sample"]
    assert again["frechet_distance"] != first["frechet_distance"]
