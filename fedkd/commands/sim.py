"""`fedkd-sim`: run the Flower apps in simulation from the composed config (Ray, or one process).

Examples: `fedkd-sim strategy=fedckd partition.alpha=0.1`; a sweep: `fedkd-sim -m seed=0,1,2 strategy=fedavg,fedckd`;
continue an interrupted run: `fedkd-sim resume=results/<run>.incomplete` (it takes the run's own overrides).
"""

from __future__ import annotations

from pathlib import Path

from fedkd.app.experiment_config import FEDERATED, FederatedConfig
from fedkd.commands.skeleton import experiment_command


def run_federated(config: FederatedConfig, sweep_root: Path | None) -> Path:
    from fedkd.app.inprocess import run_in_process
    from fedkd.app.simulation import run_in_simulation
    from fedkd.checkpoint.interrupts import stop_on_signals
    from fedkd.checkpoint.resume import task_overrides

    with stop_on_signals():
        if config.simulation.backend == "inprocess":
            return run_in_process(config, sweep_root, overrides=task_overrides())
        return run_in_simulation(config, sweep_root, overrides=task_overrides())


main = experiment_command(FEDERATED, run_federated, "fedkd-sim")
