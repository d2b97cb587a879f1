"""Validate a composed experiment config before any work starts.

Every leaf key must be known and well-typed; every violation is a ConfigError that names the key,
the value and what is allowed. Checks that need the data on disk (an ImageFolder's size) run when
the data loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from fedkd.config.rules import BOOL, PREFIXES, TEXT, Rule, check, choice, integer, leaves, number, optional
from fedkd.data.lowres import KERNELS
from fedkd.data.partition import PARTITION_KINDS
from fedkd.distill import KD_FORMS
from fedkd.errors import ConfigError, UserError
from fedkd.faces.face_rules import (
    OPTIONAL_METHOD_KEYS,
    SCHEDULE_NAMES,
    WIDTHS,
    check_distiller,
    check_dp_compatible,
    method_rules,
    teacher_rules,
)
from fedkd.faces.student_net import LRStudent
from fedkd.models.small_cnn import SmallCNN
from fedkd.paths import expand
from fedkd.privacy.accounting import ACCOUNTANTS
from fedkd.privacy.client_level import CLIPPINGS, SIDES, sampled_per_round
from fedkd.privacy.sample_level import GRAD_SAMPLE_MODES

DATASETS = ("faces", "digits", "mnist_subset", "imagefolder", "mnist", "fashion_mnist", "cifar10")
MODELS = ("small_cnn", "lr_student")
WORKLOADS = ("classifier", "face_kd")
STRATEGIES = ("fedavg", "fedavg_ft", "fedprox", "local", "pfedsd", "fedckd", "ditto", "fedper", "fedrep")
OPTIMIZERS = ("adam", "sgd")
CLASS_ASSIGNMENTS = ("random", "deterministic", "first-deterministic")
# Native side and size of the data sets whose shape is fixed.
FIXED_SHAPES = {"digits": (8, 1797), "mnist_subset": (28, 5000), "mnist": (28, 60000),
                "fashion_mnist": (28, 60000), "cifar10": (32, 50000)}


COMMON_RULES: dict[str, Rule] = {
    "seed": integer(0),
    "num_rounds": integer(1),
    "data_cache": TEXT,
    "output.root": TEXT,
    "output.name": TEXT,
    "dataset.name": choice(DATASETS),
    "lowres.enabled": BOOL,
    "lowres.size": integer(4),
    "lowres.kernel": choice(KERNELS),
    "lowres.blur_sigma": number(0),
    "lowres.noise_std": number(0),
    "lowres.upsample": BOOL,
    "partition.name": choice(PARTITION_KINDS),
    "partition.test_fraction": number(0, 1, lo_open=True, hi_open=True),
    "model.name": choice(MODELS),
    "workload.name": choice(WORKLOADS),
    "strategy.name": choice(STRATEGIES),
    "train.local_epochs": integer(1),
    "train.batch_size": integer(1),
    "train.optimizer": choice(OPTIMIZERS),
    "train.lr": number(0, lo_open=True),
    "train.momentum": number(0, 1, hi_open=True),
    "train.weight_decay": number(0),
    "simulation.num_clients": integer(1),
    "simulation.fraction_train": number(0, 1, lo_open=True),
    "simulation.fraction_evaluate": number(0, 1),
    "simulation.min_clients": integer(1),
    "simulation.client_cpus": number(0, lo_open=True),
    "simulation.client_gpus": number(0),
    "simulation.evaluate_every": integer(1),
    "simulation.backend": choice(("ray", "inprocess")),
    "simulation.ray_address": optional(TEXT),
    "simulation.state_precision": choice(("float16", "float32")),
    "privacy.mode": choice(("none", "sample", "client")),
    "privacy.name": TEXT,
}

DATASET_RULES: dict[str, dict[str, Rule]] = {
    "faces": {
        "dataset.resolution": integer(8, 256),
        "dataset.num_identities": integer(2),
        "dataset.images_per_identity": integer(2),
        "dataset.num_families": integer(1),
        "dataset.seed": integer(0),
        **{f"dataset.nuisance.{k}": number(0) for k in
           ("shift", "rotation_deg", "scale", "yaw", "expression", "illumination", "noise_std")},
    },
    "digits": {},
    "mnist_subset": {},
    "imagefolder": {"dataset.root": TEXT, "dataset.resolution": integer(4, 512),
                    "dataset.grayscale": BOOL},
    **{name: {"dataset.root": TEXT, "dataset.download": BOOL}
       for name in ("mnist", "fashion_mnist", "cifar10")},
}

MODEL_RULES: dict[str, dict[str, Rule]] = {
    "small_cnn": {"model.width": integer(1), "model.embedding_dim": integer(1), "model.norm_groups": integer(0),
                  "model.pool_size": integer(1), "model.dropout": number(0, 1, hi_open=True)},
    "lr_student": {"model.widths": WIDTHS, "model.embedding_dim": integer(2), "model.scale": number(0, lo_open=True)},
}


def workload_rules(values: dict[str, Any]) -> dict[str, Rule]:
    if values["workload.name"] == "classifier":
        return {}
    check("workload.method.schedule", values.get("workload.method.schedule"), choice(SCHEDULE_NAMES))
    return {"workload.eval_identities": integer(2), "workload.split_seed": integer(0),
            **teacher_rules("workload.teacher"), **method_rules("workload.method", values["workload.method.schedule"])}


PRV_MIN_NOISE, PRV_MAX_EPSILON = 0.2, 100.0
_DP_COMMON: dict[str, Rule] = {"privacy.delta": number(0, 1, lo_open=True, hi_open=True),
                               "privacy.norm_groups": integer(1)}
PRIVACY_RULES: dict[str, dict[str, Rule]] = {
    "none": {},
    "sample": {**_DP_COMMON, "privacy.target_epsilon": optional(number(0, lo_open=True)),
               "privacy.noise_multiplier": optional(number(0, lo_open=True)),
               "privacy.max_grad_norm": number(0, lo_open=True), "privacy.accountant": choice(ACCOUNTANTS),
               "privacy.grad_sample_mode": choice(GRAD_SAMPLE_MODES),
               "privacy.planned_participations": optional(integer(1))},
    "client": {**_DP_COMMON, "privacy.side": choice(SIDES), "privacy.clipping": choice(CLIPPINGS),
               "privacy.noise_multiplier": number(0, lo_open=True), "privacy.clipping_norm": number(0, lo_open=True),
               "privacy.target_clipped_quantile": number(0, 1), "privacy.clip_norm_lr": number(0, lo_open=True),
               "privacy.clipped_count_stddev": optional(number(0, lo_open=True))},
}

PARTITION_RULES: dict[str, dict[str, Rule]] = {
    "iid": {},
    "identity": {},
    "dirichlet": {"partition.alpha": number(0, lo_open=True),
                  "partition.min_partition_size": integer(1),
                  "partition.self_balancing": BOOL},
    "pathological": {"partition.labels_per_client": integer(1),
                     "partition.class_assignment": choice(CLASS_ASSIGNMENTS)},
}


_DISTILLATION: dict[str, Rule] = {
    "strategy.lambda_global": number(0),
    "strategy.lambda_historical": number(0),
    "strategy.temperature": number(0, lo_open=True),
    "strategy.kd_form": choice(KD_FORMS),
    "strategy.student_init": choice(("global", "historical")),
    "strategy.first_participation": choice(("global_teacher", "ce_only")),
}
STRATEGY_RULES: dict[str, dict[str, Rule]] = {
    "fedavg": {},
    "fedavg_ft": {"strategy.finetune_epochs": integer(1)},
    "fedprox": {"strategy.proximal_mu": number(0)},
    "local": {},
    "pfedsd": _DISTILLATION,
    "fedckd": _DISTILLATION,
    "ditto": {"strategy.lambda": number(0), "strategy.personal_epochs": integer(1)},
    "fedper": {"strategy.personal_layers": PREFIXES},
    "fedrep": {"strategy.personal_layers": PREFIXES, "strategy.head_epochs": integer(1),
               "strategy.body_epochs": integer(1)},
}


def _check_relations(c: dict[str, Any]) -> None:
    ds, sim = c["dataset"], c["simulation"]
    if ds["name"] in FIXED_SHAPES:
        native, size = FIXED_SHAPES[ds["name"]]
    else:
        native = ds["resolution"]
        size = ds["num_identities"] * ds["images_per_identity"] if ds["name"] == "faces" else None
    if c["lowres"]["enabled"] and c["lowres"]["size"] > native:
        raise ConfigError("lowres.size", c["lowres"]["size"],
                          f"at most {native} (the resolution of dataset={ds['name']}), or lowres=none")
    if ds["name"] == "faces" and ds["num_families"] > ds["num_identities"]:
        raise ConfigError("dataset.num_families", ds["num_families"],
                          f"at most dataset.num_identities={ds['num_identities']}")
    if size is not None and sim["num_clients"] > size // 2:
        raise ConfigError("simulation.num_clients", sim["num_clients"],
                          f"at most {size // 2} (dataset={ds['name']} has {size} samples; "
                          "each client needs a train and a test sample)")
    if sim["min_clients"] > sim["num_clients"]:
        raise ConfigError("simulation.min_clients", sim["min_clients"],
                          f"at most simulation.num_clients={sim['num_clients']}")
    names = [n for n, _ in _shape_free_model(c).named_parameters()]
    for prefix in c["strategy"].get("personal_layers", []):
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            tops = sorted({n.split(".")[0] for n in names})
            raise ConfigError("strategy.personal_layers", prefix,
                              f"a prefix of the model's parameter names ({', '.join(tops)})")


def _check_privacy(c: dict[str, Any]) -> None:
    privacy, strategy = c["privacy"], c["strategy"]["name"]
    if privacy["mode"] == "sample":
        if privacy["target_epsilon"] is None and privacy["noise_multiplier"] is None:
            raise ConfigError("privacy.noise_multiplier", None,
                              "a number > 0 when privacy.target_epsilon is null (set one of the two)")
        if privacy["accountant"] == "prv":  # Opacus' PRV fails or stalls for ε in the hundreds
            if (privacy["noise_multiplier"] or 1.0) < PRV_MIN_NOISE:
                raise ConfigError("privacy.noise_multiplier", privacy["noise_multiplier"],
                                  f"at least {PRV_MIN_NOISE} with privacy.accountant=prv (use rdp for less noise)")
            if (privacy["target_epsilon"] or 0.0) > PRV_MAX_EPSILON:
                raise ConfigError("privacy.target_epsilon", privacy["target_epsilon"],
                                  f"at most {PRV_MAX_EPSILON} with privacy.accountant=prv (use rdp beyond)")
        if strategy == "fedavg_ft":
            raise ConfigError("strategy", strategy, "a method other than fedavg_ft under privacy=sample (it "
                              "fine-tunes on the private split at every evaluation, outside any planned budget)")
    if privacy["mode"] == "client":
        if strategy in ("fedper", "fedrep"):
            raise ConfigError("strategy", strategy, "a method that sends its whole model under privacy=client "
                              "(fedper and fedrep keep their heads: clipping needs the full update)")
        if privacy["clipping"] == "adaptive":
            stddev = privacy["clipped_count_stddev"] or sampled_per_round(c) / 20
            if privacy["noise_multiplier"] >= 2 * stddev:
                raise ConfigError("privacy.noise_multiplier", privacy["noise_multiplier"],
                                  f"below 2 × privacy.clipped_count_stddev = {2 * stddev:g} under adaptive "
                                  "clipping (raise privacy.clipped_count_stddev)")


def _shape_free_model(c: dict[str, Any]) -> nn.Module:
    """The configured architecture on a dummy shape, for its parameter names."""
    params = {k: v for k, v in c["model"].items() if k != "name"}
    if c["model"]["name"] == "lr_student":
        return LRStudent(1, 2, c["lowres"]["size"], tuple(params.pop("widths")), **params)
    return SmallCNN(1, 2, **params)


def _check_face_workload(c: dict[str, Any]) -> None:
    workload, method = c["workload"], c["workload"]["method"]
    if c["model"]["name"] != "lr_student":
        raise ConfigError("model", c["model"]["name"], "lr_student under workload=face_kd")
    if c["dataset"]["name"] not in ("faces", "imagefolder"):
        raise ConfigError("dataset", c["dataset"]["name"], "faces or imagefolder under workload=face_kd")
    if not c["lowres"]["enabled"] or c["lowres"]["upsample"]:
        raise ConfigError("lowres", "none" if not c["lowres"]["enabled"] else "upsample=true",
                          "an LR size without up-sampling under workload=face_kd, e.g. lowres=lr16")
    if c["model"]["embedding_dim"] != workload["teacher"]["embedding_dim"]:
        raise ConfigError("model.embedding_dim", c["model"]["embedding_dim"],
                          f"workload.teacher.embedding_dim={workload['teacher']['embedding_dim']}")
    if method["schedule"] != "standard" or method.get("assistant_epochs", 0) > 0:
        raise ConfigError("workload.method", method["name"],
                          "a method with schedule=standard and no assistant stream (bridge, evolutionary, route "
                          "and the assistant are centralised training schedules: run them with fedkd-faces)")
    if c["dataset"]["name"] == "faces" and workload["eval_identities"] > c["dataset"]["num_identities"] - 2:
        raise ConfigError("workload.eval_identities", workload["eval_identities"],
                          f"at most dataset.num_identities - 2 = {c['dataset']['num_identities'] - 2}")
    distiller = check_distiller("workload.method.distiller", method["distiller"])
    if method["distiller"].get("lambda_logits", 0) > 0:
        raise ConfigError("workload.method.distiller.lambda_logits", method["distiller"]["lambda_logits"],
                          "0: the teacher classifies its own training identities, not the clients' classes "
                          "(use an embedding-level distiller, e.g. face_method@workload.method=feature_kd)")
    check_dp_compatible(distiller, c.get("privacy", {}).get("mode", "none"), "workload.method.distiller")


def validate(cfg: DictConfig) -> dict[str, Any]:
    """Check every value; return the resolved config as a plain dict."""
    try:
        container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or "config"
        raise UserError(f"{key} must be set ({type(err).__name__}); pass it as an override, "
                        f"e.g. {key}=<value>") from None
    assert isinstance(container, dict)
    container.pop("hydra", None)
    container.setdefault("privacy", {"mode": "none", "name": "nonprivate"})
    for section in ("dataset", "partition", "simulation", "lowres", "train", "model", "strategy", "workload",
                    "privacy"):
        if not isinstance(container.get(section), dict):
            raise UserError(f"config section {section!r} is missing; restore configs/config.yaml defaults")
    rules = dict(COMMON_RULES)
    values = leaves(container)
    for key in ("dataset.name", "partition.name", "strategy.name", "model.name", "workload.name", "privacy.mode"):
        check(key, values.get(key), rules[key])
    rules.update(DATASET_RULES[values["dataset.name"]])
    rules.update(PARTITION_RULES[values["partition.name"]])
    rules.update(STRATEGY_RULES[values["strategy.name"]])
    rules.update(MODEL_RULES[values["model.name"]])
    rules.update(workload_rules(values))
    rules.update(PRIVACY_RULES[values["privacy.mode"]])
    for key, value in values.items():
        if key.startswith("workload.method.distiller."):
            continue
        if key not in rules:
            raise UserError(f"{key} is not a known config key for dataset={values['dataset.name']} "
                            f"partition={values['partition.name']} strategy={values['strategy.name']}; "
                            "remove it or check its spelling")
        check(key, value, rules[key])
    missing = sorted(set(rules) - set(values) - {f"workload.method.{k}" for k in OPTIONAL_METHOD_KEYS})
    if missing:
        raise UserError(f"{missing[0]} is missing from the config; restore it in configs/")
    _check_relations(container)
    _check_privacy(container)
    if container["workload"]["name"] == "face_kd":
        _check_face_workload(container)
    return container


def cache_dir(config: dict[str, Any]) -> Path:
    return expand(config["data_cache"])
