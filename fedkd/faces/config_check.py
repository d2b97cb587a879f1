"""Validate a composed `fedkd-faces` config: every key known and well-typed, relations between keys."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from fedkd.config.rules import BOOL, TEXT, Rule, check, choice, integer, leaves, number
from fedkd.config.validate import COMMON_RULES, DATASET_RULES
from fedkd.errors import ConfigError, UserError
from fedkd.faces.face_rules import (
    OPTIONAL_METHOD_KEYS,
    SCHEDULE_NAMES,
    WIDTHS,
    check_distiller,
    method_rules,
    teacher_rules,
    train_rules,
)
from fedkd.paths import expand

FACE_DATASETS = ("faces", "imagefolder")
FARS = Rule(list, lambda v: bool(v) and all(isinstance(f, float) and 0 < f < 1 for f in v),
            "a non-empty list of false-accept rates in (0, 1), e.g. [0.001, 0.01]")

FACE_RULES: dict[str, Rule] = {
    "seed": integer(0), "data_cache": TEXT, "output.root": TEXT, "output.name": TEXT,
    "dataset.name": choice(FACE_DATASETS),
    **{k: v for k, v in COMMON_RULES.items() if k.startswith("lowres.")},
    **teacher_rules("teacher"),
    "student.widths": WIDTHS, "student.scale": number(0, lo_open=True), **train_rules("student.train"),
    "evaluation.eval_identities": integer(2), "evaluation.split_seed": integer(0), "evaluation.num_pairs": integer(20),
    "evaluation.folds": integer(2), "evaluation.fars": FARS, "evaluation.flip": BOOL,
    "evaluation.gallery_per_identity": integer(1),
}


def _check_relations(c: dict[str, Any]) -> None:
    ds, lr, ev = c["dataset"], c["lowres"], c["evaluation"]
    if lr["size"] > ds["resolution"]:
        raise ConfigError("lowres.size", lr["size"], f"at most dataset.resolution={ds['resolution']}")
    if lr["upsample"]:
        raise ConfigError("lowres.upsample", True, "false (the LR students take the LR side as input)")
    if ds["name"] == "faces":
        if ev["eval_identities"] > ds["num_identities"] - 2:
            raise ConfigError("evaluation.eval_identities", ev["eval_identities"],
                              f"at most dataset.num_identities - 2 = {ds['num_identities'] - 2}")
        if ev["gallery_per_identity"] >= ds["images_per_identity"]:
            raise ConfigError("evaluation.gallery_per_identity", ev["gallery_per_identity"],
                              f"less than dataset.images_per_identity={ds['images_per_identity']}")
    if ds["name"] == "imagefolder" and not expand(ds["root"]).is_dir():
        raise ConfigError("dataset.root", ds["root"], "an existing folder of <identity>/<image> files")


def validate_faces(cfg: DictConfig) -> dict[str, Any]:
    """Check every value of a face-distillation config; return it as a resolved plain dict."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    values = leaves(container)
    check("dataset.name", values.get("dataset.name"), FACE_RULES["dataset.name"])
    check("face_method.schedule", values.get("face_method.schedule"), choice(SCHEDULE_NAMES))
    rules = (FACE_RULES | DATASET_RULES[values["dataset.name"]]
             | method_rules("face_method", values["face_method.schedule"]))
    for key, value in values.items():
        if key.startswith("face_method.distiller."):
            continue
        if key not in rules:
            raise UserError(f"{key} is not a known fedkd-faces config key; remove it or check its spelling")
        check(key, value, rules[key])
    missing = sorted(set(rules) - set(values) - {f"face_method.{k}" for k in OPTIONAL_METHOD_KEYS})
    if missing:
        raise UserError(f"{missing[0]} is missing from the config; restore it in configs/")
    check_distiller("face_method.distiller", container["face_method"]["distiller"])
    _check_relations(container)
    return container
