"""`fedkd-sim`: run the Flower apps in simulation from the composed config (Ray, or one process).

Examples: `fedkd-sim strategy=fedckd partition.alpha=0.1`; a sweep: `fedkd-sim -m seed=0,1,2 strategy=fedavg,fedckd`;
continue an interrupted run: `fedkd-sim resume=results/<run>.incomplete` (it takes the run's own overrides).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fedkd.app.experiment_config import FEDERATED, FederatedConfig
from fedkd.commands.skeleton import experiment_command, user_errors
from fedkd.errors import UserError

RESUME = "resume="
ALLOWED_WITH_RESUME = ("checkpoint.",)  # how the resumed run checkpoints may change; nothing else


def _task_overrides() -> list[str]:
    """The job's own overrides (for the run's resume file), without `resume=`."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if not o.startswith(RESUME)]


def run_federated(config: FederatedConfig, sweep_root: Path | None) -> Path:
    from fedkd.app.inprocess import run_in_process
    from fedkd.app.simulation import run_in_simulation
    from fedkd.checkpoint.interrupts import stop_on_signals

    with stop_on_signals():
        if config.simulation.backend == "inprocess":
            return run_in_process(config, sweep_root, overrides=_task_overrides())
        return run_in_simulation(config, sweep_root, overrides=_task_overrides())


def resumed_arguments(args: list[str]) -> list[str]:
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
    saved = resume_overrides(resume[-1].removeprefix(RESUME))
    extra = [a for a in args if a.startswith(ALLOWED_WITH_RESUME)]
    return [*saved, *extra, resume[-1]]


_hydra_main = experiment_command(FEDERATED, run_federated)


def main() -> None:
    with user_errors():
        sys.argv[1:] = resumed_arguments(sys.argv[1:])
    _hydra_main()
