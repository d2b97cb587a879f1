"""Validate a composed `fedkd-gen` config: every key known and well-typed, relations between keys."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from fedkd.config.rules import BOOL, TEXT, Rule, check, choice, integer, leaves, number
from fedkd.config.validate import DATASET_RULES, DATASETS
from fedkd.errors import ConfigError, UserError
from fedkd.privacy.accounting import ACCOUNTANTS
from private_gen.privacy.projection_perturbation import GUARANTEE
from private_gen.sliced_score import PROJECTION_KINDS

OPTIONAL_INT = Rule((int, type(None)), lambda v: v is None or v >= 1, "null or an integer >= 1")
OPTIONAL_POSITIVE = Rule((int, float, type(None)), lambda v: v is None or v > 0, "null or a number > 0")
HIDDEN = Rule(list, lambda v: bool(v) and all(isinstance(h, int) and h > 0 for h in v),
              "a non-empty list of positive layer widths, e.g. [256, 512]")
POSITIVE = number(0, lo_open=True)

COMMON: dict[str, Rule] = {
    "seed": integer(0), "data_cache": TEXT, "output.root": TEXT, "output.name": TEXT,
    "dataset.name": choice(DATASETS),
    "data.test_fraction": number(0, 1, lo_open=True, hi_open=True), "data.split_seed": integer(0),
    "data.max_train": OPTIONAL_INT, "data.resolution": Rule((int, type(None)), lambda v: v is None or 8 <= v <= 64,
                                                            "null or an integer in [8, 64]"),
    "data.class_conditional": BOOL,
    "evaluation.num_samples": integer(20), "evaluation.evaluator_epochs": integer(1),
    "evaluation.evaluator_seed": integer(0), "evaluation.classifier_epochs": integer(1),
    "evaluation.logreg_max_iter": integer(1), "evaluation.grid_per_class": integer(1),
    "generator.name": TEXT, "generator.kind": choice(("score", "dp_merf")),
    "gen_privacy.name": TEXT, "gen_privacy.mechanism": choice(("none", "dp", "projection_perturbation")),
    "sampler.name": choice(("hmc", "langevin")), "sampler.step_size": POSITIVE,
    "sampler.evals_per_level": integer(1), "sampler.denoise": BOOL, "sampler.batch_size": integer(1),
}
SAMPLER_RULES = {"hmc": {"sampler.leapfrog_steps": integer(1), "sampler.friction": number(0),
                       "sampler.step_jitter": number(0, 1, hi_open=True)}, "langevin": {}}
GENERATOR_RULES: dict[str, dict[str, Rule]] = {
    "score": {
        "generator.network.width": integer(8), "generator.network.blocks_per_scale": integer(1),
        "generator.network.residual_enhancement": BOOL, "generator.network.enhancement_blocks": integer(1),
        "generator.network.groups": integer(1),
        "generator.noise.sigma_max": POSITIVE, "generator.noise.sigma_min": POSITIVE,
        "generator.noise.num_levels": integer(1),
        "generator.ssm.num_projections": integer(1), "generator.ssm.projection": choice(PROJECTION_KINDS),
        "generator.ssm.variance_reduced": BOOL, "generator.ssm.noise_multiplicity": integer(1),
        "generator.train.epochs": integer(1), "generator.train.batch_size": integer(1),
        "generator.train.lr": POSITIVE, "generator.train.ema_decay": number(0, 1, hi_open=True),
        "generator.train.per_sample_chunk": integer(1),
        "generator.train.progress": BOOL,
    },
    "dp_merf": {
        "generator.num_features": integer(2), "generator.length_scale_per_sqrt_dim": POSITIVE,
        "generator.latent_dim": integer(1), "generator.hidden": HIDDEN,
        "generator.train.steps": integer(1), "generator.train.batch_size": integer(1),
        "generator.train.lr": POSITIVE, "generator.train.progress": BOOL,
    },
}
PRIVACY_RULES: dict[str, dict[str, Rule]] = {
    "none": {},
    "dp": {"gen_privacy.target_epsilon": POSITIVE, "gen_privacy.delta": number(0, 1, lo_open=True, hi_open=True),
           "gen_privacy.accountant": choice(ACCOUNTANTS), "gen_privacy.noise_multiplier": OPTIONAL_POSITIVE,
           "gen_privacy.max_grad_norm": POSITIVE},
    "projection_perturbation": {"gen_privacy.guarantee": choice((GUARANTEE,)), "gen_privacy.clip": POSITIVE,
                                "gen_privacy.noise_multiplier": number(0)},
}


def _check_relations(c: dict[str, Any]) -> None:
    gen, privacy = c["generator"], c["gen_privacy"]
    if gen["kind"] == "score" and gen["noise"]["sigma_min"] >= gen["noise"]["sigma_max"]:
        raise ConfigError("generator.noise.sigma_min", gen["noise"]["sigma_min"],
                          f"less than generator.noise.sigma_max={gen['noise']['sigma_max']}")
    if gen["kind"] == "dp_merf" and privacy["mechanism"] == "projection_perturbation":
        raise ConfigError("gen_privacy", "projection_perturbation", "none or dp with generator=dp_merf "
                          "(projection perturbation acts on sliced score matching)")
    if gen["kind"] == "dp_merf" and not c["data"]["class_conditional"]:
        raise ConfigError("data.class_conditional", False, "true with generator=dp_merf (its embedding is per class)")


def validate_gen(cfg: DictConfig) -> dict[str, Any]:
    """Check every value of a generation config; return it as a resolved plain dict."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    values = leaves(container)
    for key, rule in (("dataset.name", COMMON["dataset.name"]), ("generator.kind", COMMON["generator.kind"]),
                      ("gen_privacy.mechanism", COMMON["gen_privacy.mechanism"]),
                      ("sampler.name", COMMON["sampler.name"])):
        check(key, values.get(key), rule)
    rules = (COMMON | DATASET_RULES[values["dataset.name"]] | GENERATOR_RULES[values["generator.kind"]]
             | PRIVACY_RULES[values["gen_privacy.mechanism"]] | SAMPLER_RULES[values["sampler.name"]])
    for key, value in values.items():
        if key not in rules:
            raise UserError(f"{key} is not a known fedkd-gen config key; remove it or check its spelling")
        check(key, value, rules[key])
    missing = sorted(set(rules) - set(values))
    if missing:
        raise UserError(f"{missing[0]} is missing from the config; restore it in configs/")
    _check_relations(container)
    return container
