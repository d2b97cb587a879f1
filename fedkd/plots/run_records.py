"""Read finished run directories (federated runs and private-generation runs) into flat records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fedkd.errors import UserError
from fedkd.results.run_dir import CONFIG, FAILED, INCOMPLETE, SUMMARY_JSON

NOT_A_SETTING = ("seed", "output.", "data_cache")  # keys that may differ between the seeds of one point


@dataclass(frozen=True)
class RunRecord:
    """One finished run: which method, which privacy setting, the ε it spent and its metrics."""

    path: Path
    kind: str                   # federated | generator
    method: str
    setting: str                # the configured privacy setting (groups seeds), e.g. dp-eps8.0
    mode: str                   # none | sample | client
    seed: int
    epsilon: float | None
    delta: float | None
    accountant: str | None
    scope: str
    formal: bool                # False for a mechanism without a proven guarantee
    metrics: dict[str, float]
    settings: dict[str, Any]    # the flattened config without seed and output keys


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a nested dict: {"a": {"b": 1}} -> {"a.b": 1}."""
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flatten(config).items() if not k.startswith(NOT_A_SETTING)}


def find_runs(paths: list[Path]) -> list[Path]:
    """Every finished run directory at or under `paths` (sweep folders included); `.incomplete` and
    `.failed` directories are not results and are skipped."""
    found: list[Path] = []
    for root in paths:
        if not root.exists():
            raise UserError(f"run path {root} does not exist; pass run directories or sweep folders")
        candidates = [root] if (root / CONFIG).is_file() else sorted(p.parent for p in root.rglob(CONFIG))
        found += [p for p in candidates if p.suffix not in (INCOMPLETE, FAILED) and (p / SUMMARY_JSON).is_file()]
    if not found:
        raise UserError(f"no finished run directories under {', '.join(map(str, paths))}; "
                        "pass the run or sweep folders that fedkd-sim / fedkd-gen wrote")
    return sorted(set(found))


def _read(path: Path, parse: Any) -> dict[str, Any]:
    try:
        content = parse(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise UserError(f"{path} cannot be read ({type(err).__name__}); re-run that run or move its directory "
                        "out of the plotted folders") from None
    if not isinstance(content, dict):
        raise UserError(f"{path} is not a fedkd {path.name}; re-run that run or move its directory out of the "
                        "plotted folders")
    return content


def read_run(path: Path) -> RunRecord:
    config, summary = _read(path / CONFIG, yaml.safe_load), _read(path / SUMMARY_JSON, json.loads)
    if "generator" in config:
        return _generator(path, config, summary)
    return _federated(path, config, summary)


def _federated(path: Path, config: dict[str, Any], summary: dict[str, Any]) -> RunRecord:
    privacy = summary.get("privacy", {"mode": "none", "epsilon": None})
    mode = privacy["mode"]
    return RunRecord(path, "federated", config["strategy"]["name"], config.get("privacy", {}).get("name", "nonprivate"),
                     mode, int(config["seed"]), privacy.get("epsilon"), privacy.get("delta"),
                     privacy.get("accountant"), privacy.get("scope", "non-private"), True,
                     {k: float(v) for k, v in summary["final"].items() if isinstance(v, int | float)},
                     _settings(config))


def _generator_method(config: dict[str, Any]) -> str:
    """A score model's line names what sets it apart: objective, energy form, public pretraining, sampler
    (e.g. `score_dsm-pretrained(glyphs)+hmc`); runs written before these keys existed keep `score_ssm+<sampler>`."""
    generator = config["generator"]
    method = generator["name"]
    if method != "score_ssm":
        return method
    kind = (generator.get("objective") or {}).get("kind")
    if kind:
        method = f"score_{kind}"
    if generator.get("parameterization") == "energy":
        method += "-energy"
    pretrain = config.get("pretrain") or {}
    if pretrain.get("name", "none") != "none":
        method += f"-pretrained({pretrain['name']})"
    return method + (f"+{config['sampler']['name']}" if "sampler" in config else "")


def _generator(path: Path, config: dict[str, Any], metrics: dict[str, Any]) -> RunRecord:
    privacy = metrics.get("privacy", {})
    method = _generator_method(config)
    guarantee = privacy.get("guarantee", "")
    return RunRecord(path, "generator", method, config["gen_privacy"]["name"],
                     "none" if guarantee.startswith("none") else "sample", int(config["seed"]),
                     privacy.get("epsilon"), privacy.get("delta"), privacy.get("accountant"),
                     privacy.get("scope", "non-private"), guarantee in ("(ε, δ)-DP", "none (non-private)"),
                     {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}, _settings(config))
