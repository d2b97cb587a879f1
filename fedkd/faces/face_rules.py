"""Config rules shared by `fedkd-faces` and the federated face workload: teacher, student training,
method and distiller sections, and the refusal of batch-coupled losses under differential privacy."""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_class

from fedkd.config.rules import BOOL, TEXT, Rule, check, choice, integer, number
from fedkd.distill.face_distiller import FaceDistiller
from fedkd.errors import ConfigError, UserError
from fedkd.faces.margin_head import MARGIN_KINDS

SCHEDULE_NAMES = ("standard", "bridge", "evolutionary", "route")
WIDTHS = Rule(list, lambda v: bool(v) and all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in v),
              "a non-empty list of positive integers, e.g. [24, 48, 96]")


def train_rules(prefix: str) -> dict[str, Rule]:
    return {f"{prefix}.epochs": integer(1), f"{prefix}.batch_size": integer(2), f"{prefix}.lr": number(0, lo_open=True),
            f"{prefix}.weight_decay": number(0), f"{prefix}.loss": choice(MARGIN_KINDS),
            f"{prefix}.margin": number(0, 1), f"{prefix}.progress": BOOL}


def teacher_rules(prefix: str) -> dict[str, Rule]:
    return {f"{prefix}.widths": WIDTHS, f"{prefix}.blocks_per_stage": integer(1),
            f"{prefix}.embedding_dim": integer(2), f"{prefix}.scale": number(0, lo_open=True),
            f"{prefix}.route_anchors": integer(1), f"{prefix}.seed": integer(0), **train_rules(f"{prefix}.train")}


def method_rules(prefix: str, schedule: str) -> dict[str, Rule]:
    per_schedule = {
        "standard": {"assistant_epochs": integer(0), "assistant_lr": number(0, lo_open=True)},
        "route": {},
        "bridge": {"public_fraction": number(0, 1, lo_open=True), "bridge_widths": WIDTHS,
                   "bridge_epochs": integer(1), "lambda_feature": number(0)},
        "evolutionary": {"guided_stages": integer(1), "lambda_guide": number(0), "lambda_logits": number(0),
                         "temperature": number(0, lo_open=True)},
    }[schedule]
    return {f"{prefix}.name": TEXT, f"{prefix}.schedule": choice(SCHEDULE_NAMES), f"{prefix}.adabn": BOOL,
            f"{prefix}.distiller._target_": TEXT} | {f"{prefix}.{k}": v for k, v in per_schedule.items()}


OPTIONAL_METHOD_KEYS = ("assistant_epochs", "assistant_lr")


def distiller_class(key: str, target: str) -> type[FaceDistiller]:
    try:
        cls = get_class(target)
    except Exception:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, FaceDistiller)):
        raise ConfigError(key, target, "a FaceDistiller class, e.g. fedkd.distill.cckd.CCKD (see configs/face_method/)")
    return cls


def check_distiller(prefix: str, section: dict[str, Any]) -> type[FaceDistiller]:
    """The distiller class named by `_target_`, after checking every argument against its signature."""
    cls = distiller_class(f"{prefix}._target_", section["_target_"])
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key, value in section.items():
        if key == "_target_":
            continue
        if key not in accepted:
            raise UserError(f"{prefix}.{key} is not a parameter of {cls.__name__}; allowed: "
                            f"{', '.join(accepted) or 'none'}")
        check(f"{prefix}.{key}", value, number(0))
    return cls


def check_dp_compatible(distiller: type[FaceDistiller], privacy_mode: str, key: str) -> None:
    """Refuse a batch-coupled distillation loss under sample-level DP (client-level DP clips whole updates).

    DP-SGD bounds each sample's influence by clipping its own gradient; a loss in which one sample's
    term depends on the other samples of the batch (relations, correlations, contrastive negatives)
    gives per-sample gradients that also carry the other samples, so the guarantee does not hold.
    """
    if privacy_mode == "sample" and distiller.batch_coupled:
        raise UserError(f"{key}={distiller.__name__} couples the samples of a batch and cannot run under "
                        "sample-level differential privacy (privacy=sample); choose a per-sample distiller "
                        "(none, hinton_kd, feature_kd, selective_kd), client-level DP (privacy=client) "
                        "or privacy=none")
