"""`fedkd-config`: print the composed, validated config (or one value) for given overrides."""

from __future__ import annotations

import argparse
import sys

import yaml

from fedkd.config.compose import compose_config
from fedkd.config.validate import validate
from fedkd.errors import USAGE_EXIT_CODE, UserError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fedkd-config", description=__doc__)
    parser.add_argument("--get", metavar="KEY", help="print only this dotted key, e.g. simulation.num_clients")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. partition=iid num_rounds=5")
    args = parser.parse_args(argv)
    try:
        config = validate(compose_config(args.overrides))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
    if args.get is None:
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return
    value: object = config
    for part in args.get.split("."):
        if not isinstance(value, dict) or part not in value:
            print(f"error: --get {args.get!r} is not a config key; run fedkd-config to list them",
                  file=sys.stderr)
            sys.exit(USAGE_EXIT_CODE)
        value = value[part]
    print(value)
if __name__ == "__main__":
    main()
