"""`fedkd-sim`: run the Flower apps in simulation from the composed config (Ray, or one process).

Examples: `fedkd-sim strategy=fedckd partition.alpha=0.1`; a sweep: `fedkd-sim -m seed=0,1,2 strategy=fedavg,fedckd`.
"""

from __future__ import annotations

from pathlib import Path

from fedkd.app.experiment_config import FEDERATED, FederatedConfig
from fedkd.commands.skeleton import experiment_command


def run_federated(config: FederatedConfig, sweep_root: Path | None) -> Path:
    from fedkd.app.inprocess import run_in_process
    from fedkd.app.simulation import run_in_simulation

    runner = run_in_process if config.simulation.backend == "inprocess" else run_in_simulation
    return runner(config, sweep_root)


main = experiment_command(FEDERATED, run_federated)
