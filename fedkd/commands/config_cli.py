"""`fedkd-config`: print the composed, checked config (or one value, or every key explained) for overrides.

    fedkd-config [--command sim|faces|gen] [--get KEY | --describe] [OVERRIDES...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import yaml

from fedkd.commands.skeleton import user_errors
from fedkd.config.fields import allowed, help_of
from fedkd.config.schema import ExperimentSchema, as_dict
from fedkd.errors import UserError


def schemas() -> dict[str, ExperimentSchema[Any]]:
    from fedkd.app.experiment_config import FEDERATED
    from fedkd.face_experiment.config import FACES
    from private_gen.config import GENERATION

    return {"sim": FEDERATED, "faces": FACES, "gen": GENERATION}


def describe(settings: Any, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, value, allowed values, help) for every leaf of a settings tree."""
    rows = []
    for field in dataclasses.fields(settings):
        value, key = getattr(settings, field.name), f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            rows += describe(value, f"{key}.")
            continue
        shown = value if isinstance(value, str) else json.dumps(value)
        rows.append((key, shown, allowed(type(settings), field.name), help_of(field)))
    return rows


def lookup(settings: Any, key: str) -> Any:
    value: Any = as_dict(settings)
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UserError(f"--get {key!r} is not a config key; run fedkd-config to list them")
        value = value[part]
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fedkd-config", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--command", choices=("sim", "faces", "gen"), default="sim",
                        help="whose config: fedkd-sim (default), fedkd-faces or fedkd-gen")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--get", metavar="KEY", help="print only this dotted key, e.g. simulation.num_clients")
    shown.add_argument("--describe", action="store_true",
                       help="every key with its value, the values it allows and what it does")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. partition=iid num_rounds=5")
    args = parser.parse_args(argv)
    with user_errors():
        settings = schemas()[args.command].load(args.overrides)
        if args.get is not None:
            print(lookup(settings, args.get))
        elif args.describe:
            for key, value, allowed_text, help_text in describe(settings):
                print(f"{key} = {value}    # {allowed_text}" + (f"; {help_text}" if help_text else ""))
        else:
            print(yaml.safe_dump(as_dict(settings), sort_keys=False), end="")


if __name__ == "__main__":
    main()
