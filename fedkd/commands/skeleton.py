"""What every command shares: the one place that turns a user error into one line and exit code 2, and the
skeleton of the experiment commands (compose → validate every job → run → one run directory per job).

A sweep (`-m`) is expanded and every job composed and validated before the first one starts, so a bad value
fails at once, leaving no run directory behind; then Hydra runs the jobs, and a sweep's run directories go
together into its sweep folder (beside Hydra's multirun.yaml).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig

from fedkd.config.compose import compose_config, one_line
from fedkd.config.schema import ExperimentSchema
from fedkd.errors import USAGE_EXIT_CODE, UserError
from fedkd.paths import config_dir

T = TypeVar("T")
HYDRA_INFO_FLAGS = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "--shell-completion")
MAX_PREFLIGHT_JOBS = 512


@contextmanager
def user_errors() -> Iterator[None]:
    """A UserError inside becomes `error: <one line>` on stderr and exit code 2 (or the error's own
    `exit_code`: 130 for a run stopped by a signal)."""
    try:
        yield
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(getattr(err, "exit_code", USAGE_EXIT_CODE))


def job_overrides(args: list[str], multirun: bool) -> list[list[str]]:
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


def preflight(schema: ExperimentSchema[Any], args: list[str]) -> None:
    """Compose and validate every job of the command line; raises UserError on the first bad one."""
    if any(a in HYDRA_INFO_FLAGS for a in args):
        return
    multirun = "-m" in args or "--multirun" in args
    for overrides in job_overrides(args, multirun):
        schema.validate(compose_config(overrides, schema.config_name))


def _sweep_root() -> Path | None:
    """The sweep folder of the running Hydra multirun job; None for a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.runtime.output_dir).parent if hydra_cfg.mode == RunMode.MULTIRUN else None


def experiment_command(schema: ExperimentSchema[T], job: Callable[[T, Path | None], Path]) -> Callable[[], None]:
    """The console entry of an experiment command: `job(settings, sweep_root)` runs one validated job and
    returns its run directory (written with `fedkd.results.run_dir.write_run`)."""
    import hydra

    def run_job(cfg: DictConfig) -> None:
        with user_errors():
            path = job(schema.validate(cfg), _sweep_root())
        print(path)

    def main() -> None:
        schema.register()
        with user_errors():
            preflight(schema, sys.argv[1:])
        hydra.main(config_path=str(config_dir()), config_name=schema.config_name, version_base="1.3")(run_job)()

    return main
