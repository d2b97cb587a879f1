"""What every command shares: the one place that turns a user error into one line and exit code 2, and the
skeleton of the experiment commands (compose → validate every job → run → one run directory per job).

A sweep (`-m`) is expanded and every job composed and validated before the first one starts, so a bad value
fails at once, leaving no run directory behind; then Hydra runs the jobs, and a sweep's run directories go
together into its sweep folder (beside Hydra's multirun.yaml). Re-run with the same `hydra.sweep.dir`, a
sweep skips its finished jobs and resumes its interrupted ones (fedkd/checkpoint/sweep_jobs.py).
`resume=RUN_DIR` continues one interrupted run with the overrides it was started with.
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
from fedkd.errors import USAGE_EXIT_CODE, UserError, check_writable_folder, os_error_line
from fedkd.paths import config_dir, expand

T = TypeVar("T")
HYDRA_INFO_FLAGS = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "--shell-completion")
MAX_PREFLIGHT_JOBS = 512
RESUME = "resume="
ALLOWED_WITH_RESUME = ("checkpoint.",)  # how the resumed run checkpoints may change; nothing else


@contextmanager
def user_errors() -> Iterator[None]:
    """A UserError inside becomes `error: <one line>` on stderr and exit code 2 (or the error's own
    `exit_code`: 130 for a run stopped by a signal); so does a file-system failure the user can fix (disk
    full, read-only, permissions)."""
    try:
        yield
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(getattr(err, "exit_code", USAGE_EXIT_CODE))
    except OSError as err:
        line = os_error_line(err)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)


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
        settings = schema.validate(compose_config(overrides, schema.config_name))
        check_writable_folder("output.root", expand(settings.output.root))
        check_writable_folder("data_cache", expand(settings.data_cache))


def resumed_arguments(args: list[str], command: str) -> list[str]:
    """`resume=DIR [checkpoint.*=...]` becomes the run's saved overrides plus those; other arguments are refused."""
    from fedkd.checkpoint.resume import resume_overrides

    resume = [a for a in args if a.startswith(RESUME)]
    if not resume:
        return args
    if "-m" in args or "--multirun" in args:
        raise UserError("resume= continues one run; a sweep resumes its jobs by itself when re-run with the same "
                        "hydra.sweep.dir (docs/reliability.md)")
    others = [a for a in args if a not in resume and not a.startswith(ALLOWED_WITH_RESUME)
              and not a.startswith("-")]
    if others:
        raise UserError(f"resume= takes the run's own config; drop {' '.join(others)} (only checkpoint.* may "
                        "change when resuming)")
    saved = resume_overrides(resume[-1].removeprefix(RESUME), command)
    extra = [a for a in args if a.startswith(ALLOWED_WITH_RESUME)]
    return [*saved, *extra, resume[-1]]


def _sweep_root() -> Path | None:
    """The sweep folder of the running Hydra multirun job; None for a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.runtime.output_dir).parent if hydra_cfg.mode == RunMode.MULTIRUN else None


def _job_of_sweep(settings: T, sweep_root: Path | None) -> tuple[T, Path | None]:
    """A sweep job's settings (resuming its interrupted run) and the directory it already finished in."""
    if sweep_root is None or settings.resume:  # every experiment schema has `resume`
        return settings, None
    from fedkd.checkpoint.sweep_jobs import sweep_job

    return sweep_job(sweep_root, settings)


def experiment_command(schema: ExperimentSchema[T], job: Callable[[T, Path | None], Path],
                       command: str) -> Callable[[], None]:
    """The console entry of experiment command `command`: `job(settings, sweep_root)` runs one validated job
    and returns its run directory (written with `fedkd.results.run_dir.write_run`)."""
    import hydra

    def run_job(cfg: DictConfig) -> None:
        with user_errors():
            sweep_root = _sweep_root()
            settings, finished = _job_of_sweep(schema.validate(cfg), sweep_root)
            if finished is not None:
                print(f"already finished: {finished}", file=sys.stderr)
                path = finished
            else:
                path = job(settings, sweep_root)
        print(path)

    def main() -> None:
        schema.register()
        with user_errors():
            sys.argv[1:] = resumed_arguments(sys.argv[1:], command)
            preflight(schema, sys.argv[1:])
        hydra.main(config_path=str(config_dir()), config_name=schema.config_name, version_base="1.3")(run_job)()

    return main
