"""Validate a composed experiment config before any work starts.

Every leaf key must be known and well-typed; every violation is a ConfigError that names the key,
the value and what is allowed. Checks that need the data on disk (an ImageFolder's size) run when
the data loads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fedkd.data.lowres import KERNELS
from fedkd.data.partition import PARTITION_KINDS
from fedkd.distill import KD_FORMS
from fedkd.errors import ConfigError, UserError
from fedkd.models.small_cnn import SmallCNN
from fedkd.paths import expand

DATASETS = ("faces", "digits", "mnist_subset", "imagefolder", "mnist", "fashion_mnist", "cifar10")
MODELS = ("small_cnn",)
STRATEGIES = ("fedavg", "fedavg_ft", "fedprox", "local", "pfedsd", "fedckd", "ditto", "fedper", "fedrep")
OPTIMIZERS = ("adam", "sgd")
CLASS_ASSIGNMENTS = ("random", "deterministic", "first-deterministic")
# Native side and size of the data sets whose shape is fixed.
FIXED_SHAPES = {"digits": (8, 1797), "mnist_subset": (28, 5000), "mnist": (28, 60000),
                "fashion_mnist": (28, 60000), "cifar10": (32, 50000)}


@dataclass(frozen=True)
class Rule:
    kind: type | tuple[type, ...]
    check: Callable[[Any], bool] = lambda v: True
    allowed: str = ""


def integer(lo: int | None = None, hi: int | None = None) -> Rule:
    text = "an integer" + (f" >= {lo}" if lo is not None else "") + (f" <= {hi}" if hi is not None else "")
    return Rule(int, lambda v: (lo is None or v >= lo) and (hi is None or v <= hi), text)


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> Rule:
    def ok(v: float) -> bool:
        above = lo is None or (v > lo if lo_open else v >= lo)
        below = hi is None or (v < hi if hi_open else v <= hi)
        return above and below

    text = "a number" + (f" {'>' if lo_open else '>='} {lo}" if lo is not None else "")
    text += f" {'<' if hi_open else '<='} {hi}" if hi is not None else ""
    return Rule((int, float), ok, text)


def choice(options: Iterable[str]) -> Rule:
    options = tuple(options)
    return Rule(str, lambda v: v in options, "one of: " + ", ".join(options))


BOOL = Rule(bool, allowed="true or false")
PREFIXES = Rule(list, lambda v: bool(v) and all(isinstance(p, str) and p for p in v),
                "a non-empty list of parameter-name prefixes, e.g. [head]")
TEXT = Rule(str, lambda v: bool(v.strip()), "a non-empty string")

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
    "model.width": integer(1),
    "model.embedding_dim": integer(1),
    "model.norm_groups": integer(0),
    "model.pool_size": integer(1),
    "model.dropout": number(0, 1, hi_open=True),
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
    "simulation.state_precision": choice(("float16", "float32")),
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


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def _check(key: str, value: Any, rule: Rule) -> None:
    kinds = rule.kind if isinstance(rule.kind, tuple) else (rule.kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(key, value, rule.allowed)
    if not isinstance(value, kinds) or not rule.check(value):
        raise ConfigError(key, value, rule.allowed)


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
    names = [n for n, _ in SmallCNN(1, 2).named_parameters()]
    for prefix in c["strategy"].get("personal_layers", []):
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            tops = sorted({n.split(".")[0] for n in names})
            raise ConfigError("strategy.personal_layers", prefix,
                              f"a prefix of the model's parameter names ({', '.join(tops)})")
    if ds["name"] == "imagefolder" and not expand(ds["root"]).is_dir():
        raise ConfigError("dataset.root", ds["root"], "an existing folder of <identity>/<image> files")


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
    for section in ("dataset", "partition", "simulation", "lowres", "train", "model", "strategy"):
        if not isinstance(container.get(section), dict):
            raise UserError(f"config section {section!r} is missing; restore configs/config.yaml defaults")
    rules = dict(COMMON_RULES)
    leaves = _leaves(container)
    for key in ("dataset.name", "partition.name", "strategy.name"):
        _check(key, leaves.get(key), rules[key])
    rules.update(DATASET_RULES[leaves["dataset.name"]])
    rules.update(PARTITION_RULES[leaves["partition.name"]])
    rules.update(STRATEGY_RULES[leaves["strategy.name"]])
    for key, value in leaves.items():
        if key not in rules:
            raise UserError(f"{key} is not a known config key for dataset={leaves['dataset.name']} "
                            f"partition={leaves['partition.name']} strategy={leaves['strategy.name']}; "
                            "remove it or check its spelling")
        _check(key, value, rules[key])
    missing = sorted(set(rules) - set(leaves))
    if missing:
        raise UserError(f"{missing[0]} is missing from the config; restore it in configs/")
    _check_relations(container)
    return container


def cache_dir(config: dict[str, Any]) -> Path:
    return expand(config["data_cache"])
