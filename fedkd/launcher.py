"""`fedkd-sim`: Hydra launcher that runs the Flower apps in simulation from the composed config.

Every job of a run or sweep is composed and validated before the first one starts, so a bad
value fails at once with one line and exit code 2, leaving no run directory behind.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fedkd.config.compose import compose_config, one_line
from fedkd.config.validate import validate
from fedkd.errors import USAGE_EXIT_CODE, UserError
from fedkd.paths import config_dir

HYDRA_INFO_FLAGS = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "--shell-completion")
MAX_PREFLIGHT_JOBS = 512


def _job_overrides(args: list[str], multirun: bool) -> list[list[str]]:
    """The override list of every job the command line describes (sweeps expanded)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if not a.startswith("-") and not a.lstrip("+~").startswith("hydra")]
    if not multirun:
        return [overrides]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as err:
        raise UserError(one_line(str(err))) from None
    choices = []
    for item in parsed:
        prefix = {"ADD": "+", "FORCE_ADD": "++", "DEL": "~"}.get(item.type.name, "")
        key = f"{prefix}{item.key_or_group}"
        values = list(item.sweep_string_iterator()) if item.is_sweep_override() else [
            item.get_value_element_as_str()]
        choices.append([f"{key}={v}" for v in values])
    jobs = [list(job) for job in itertools.product(*choices)]
    return jobs[:MAX_PREFLIGHT_JOBS]


def preflight(args: list[str], config_name: str = "config",
              check: Callable[[DictConfig], object] = validate) -> None:
    """Compose and validate every job; raises UserError on the first bad one."""
    if any(a in HYDRA_INFO_FLAGS for a in args):
        return
    multirun = "-m" in args or "--multirun" in args
    for overrides in _job_overrides(args, multirun):
        check(compose_config(overrides, config_name))


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def _run_job(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from fedkd.app.inprocess import run_in_process
    from fedkd.app.simulation import run_in_simulation

    hydra_cfg = HydraConfig.get()
    # A sweep's runs go together into its sweep folder (beside Hydra's multirun.yaml).
    sweep_root = Path(hydra_cfg.runtime.output_dir).parent if hydra_cfg.mode == RunMode.MULTIRUN else None
    try:
        config = validate(cfg)
        runner = run_in_process if config["simulation"]["backend"] == "inprocess" else run_in_simulation
        path = runner(config, output_root=sweep_root)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
    print(path)
    return None


def checked_main(run_job: Callable[[], object], config_name: str = "config",
                 check: Callable[[DictConfig], object] = validate) -> None:
    """Console entry of a Hydra command: validate every job of the command line first (a mistake is
    one line and exit code 2), then hand over to Hydra's `run_job`."""
    try:
        preflight(sys.argv[1:], config_name=config_name, check=check)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
    run_job()


def unique_run_dir(root: Path, name: str) -> Path:
    """`<root>/<time>-<name>`, with a numeric suffix if that exists already."""
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    path, suffix = root / base, 1
    while path.exists():
        suffix += 1
        path = root / f"{base}-{suffix}"
    return path


def main() -> None:
    checked_main(_run_job)
