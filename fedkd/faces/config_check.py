"""Validate a composed `fedkd-faces` config: every key known and well-typed, relations between keys."""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from fedkd.config.validate import (
    BOOL,
    COMMON_RULES,
    DATASET_RULES,
    TEXT,
    Rule,
    _check,
    _leaves,
    choice,
    integer,
    number,
)
from fedkd.distill.face_distiller import FaceDistiller
from fedkd.errors import ConfigError, UserError
from fedkd.faces.margin_head import MARGIN_KINDS
from fedkd.faces.schedules import SCHEDULES
from fedkd.paths import expand

FACE_DATASETS = ("faces", "imagefolder")
WIDTHS = Rule(list, lambda v: bool(v) and all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in v),
              "a non-empty list of positive integers, e.g. [32, 64, 128]")
FARS = Rule(list, lambda v: bool(v) and all(isinstance(f, float) and 0 < f < 1 for f in v),
            "a non-empty list of false-accept rates in (0, 1), e.g. [0.001, 0.01]")


def _train_rules(prefix: str) -> dict[str, Rule]:
    return {f"{prefix}.epochs": integer(1), f"{prefix}.batch_size": integer(2), f"{prefix}.lr": number(0, lo_open=True),
            f"{prefix}.weight_decay": number(0), f"{prefix}.loss": choice(MARGIN_KINDS),
            f"{prefix}.margin": number(0, 1), f"{prefix}.progress": BOOL}


FACE_RULES: dict[str, Rule] = {
    "seed": integer(0), "data_cache": TEXT, "output.root": TEXT, "output.name": TEXT,
    "dataset.name": choice(FACE_DATASETS),
    **{k: v for k, v in COMMON_RULES.items() if k.startswith("lowres.")},
    "teacher.widths": WIDTHS, "teacher.blocks_per_stage": integer(1), "teacher.embedding_dim": integer(2),
    "teacher.scale": number(0, lo_open=True), "teacher.route_anchors": integer(1), "teacher.seed": integer(0),
    **_train_rules("teacher.train"),
    "student.widths": WIDTHS, "student.scale": number(0, lo_open=True), **_train_rules("student.train"),
    "evaluation.eval_identities": integer(2), "evaluation.split_seed": integer(0), "evaluation.num_pairs": integer(20),
    "evaluation.folds": integer(2), "evaluation.fars": FARS, "evaluation.flip": BOOL,
    "evaluation.gallery_per_identity": integer(1),
    "face_method.name": TEXT, "face_method.schedule": choice(SCHEDULES), "face_method.adabn": BOOL,
    "face_method.distiller._target_": TEXT,
}

SCHEDULE_RULES: dict[str, dict[str, Rule]] = {
    "standard": {"face_method.assistant_epochs": integer(0), "face_method.assistant_lr": number(0, lo_open=True)},
    "route": {},
    "bridge": {"face_method.public_fraction": number(0, 1, lo_open=True), "face_method.bridge_widths": WIDTHS,
               "face_method.bridge_epochs": integer(1), "face_method.lambda_feature": number(0)},
    "evolutionary": {"face_method.guided_stages": integer(1), "face_method.lambda_guide": number(0),
                     "face_method.lambda_logits": number(0), "face_method.temperature": number(0, lo_open=True)},
}
OPTIONAL = {"face_method.assistant_epochs", "face_method.assistant_lr"}


def distiller_class(target: str) -> type[FaceDistiller]:
    try:
        cls = get_class(target)
    except Exception:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, FaceDistiller)):
        raise ConfigError("face_method.distiller._target_", target,
                          "a FaceDistiller class, e.g. fedkd.distill.cckd.CCKD (see configs/face_method/)")
    return cls


def _check_distiller(section: dict[str, Any]) -> None:
    cls = distiller_class(section["_target_"])
    accepted = inspect.signature(cls.__init__).parameters
    for key, value in section.items():
        if key == "_target_":
            continue
        if key not in accepted:
            raise UserError(f"face_method.distiller.{key} is not a parameter of {cls.__name__}; "
                            f"allowed: {', '.join(p for p in accepted if p != 'self')}")
        _check(f"face_method.distiller.{key}", value, number(0))


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
    leaves = _leaves({k: v for k, v in container.items()})
    for key in ("dataset.name", "face_method.schedule"):
        _check(key, leaves.get(key), FACE_RULES[key])
    rules = FACE_RULES | DATASET_RULES[leaves["dataset.name"]] | SCHEDULE_RULES[leaves["face_method.schedule"]]
    for key, value in leaves.items():
        if key.startswith("face_method.distiller."):
            continue
        if key not in rules:
            raise UserError(f"{key} is not a known fedkd-faces config key; remove it or check its spelling")
        _check(key, value, rules[key])
    missing = sorted(set(rules) - set(leaves) - OPTIONAL)
    if missing:
        raise UserError(f"{missing[0]} is missing from the config; restore it in configs/")
    _check_distiller(container["face_method"]["distiller"])
    _check_relations(container)
    return container
