"""`fedkd-gen`: train a (private) generator, sample it, evaluate the samples, write a run directory.

Examples: `fedkd-gen dataset=digits`; `fedkd-gen gen_privacy=dp gen_privacy.target_epsilon=1`;
a sweep: `fedkd-gen -m gen_privacy=dp gen_privacy.target_epsilon=1,10 seed=0,1`.
Every job is validated before the first one starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fedkd.errors import USAGE_EXIT_CODE, UserError
from fedkd.launcher import checked_main, unique_run_dir
from fedkd.paths import config_dir, expand
from private_gen.config_check import validate_gen


@hydra.main(config_path=str(config_dir()), config_name="gen", version_base="1.3")
def _run_job(cfg: DictConfig) -> None:
    from private_gen.experiment import run_generation
    from private_gen.report import headline, privacy_line

    try:
        config = validate_gen(cfg)
        out_dir = unique_run_dir(expand(config["output"]["root"]), config["output"]["name"])
        metrics = run_generation(config, out_dir)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
    print(headline(metrics))
    print(privacy_line(metrics["privacy"]))
    print(Path(out_dir))


def main() -> None:
    checked_main(_run_job, config_name="gen", check=validate_gen)
