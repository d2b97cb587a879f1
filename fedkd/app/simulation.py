"""Run the Flower apps in the in-process Simulation Runtime (Ray backend) from a config dict."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedkd.app.client_app import make_client_app
from fedkd.app.experiment_config import FederatedConfig
from fedkd.app.server_app import prepare_server, serve

# Environment the Ray workers must inherit (see shared/DESIGN.md §3).
RUNTIME_ENV = {"RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0", "FLWR_TELEMETRY_ENABLED": "0",
               "FLWR_DISABLE_UPDATE_CHECK": "1", "RAY_DEDUP_LOGS": "0"}


class _DropKnownDeprecation(logging.Filter):
    """`run_simulation` is deprecated but is the in-process runtime this launcher needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`run_simulation` function is deprecated" not in record.getMessage()


def run_in_simulation(config: FederatedConfig, output_root: Path | None = None,
                      verbose: bool = False, overrides: list[str] | None = None) -> Path:
    """Simulate `simulation.num_clients` SuperNodes; returns the run directory."""
    from flwr.simulation import run_simulation

    for key, value in RUNTIME_ENV.items():
        os.environ.setdefault(key, value)
    shape = prepare_server(config)  # build caches and surface data errors before Ray starts
    if not verbose:
        flwr_logger = logging.getLogger("flwr")
        flwr_logger.setLevel(logging.WARNING)
        for target in (flwr_logger, *flwr_logger.handlers):
            target.addFilter(_DropKnownDeprecation())
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    finished: list[Path] = []
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        finished.append(serve(grid, config, output_root, shape, prepared=True, overrides=overrides))

    sim = config.simulation
    cluster = {"address": sim.ray_address} if sim.ray_address else {}
    run_simulation(
        server_app=server_app,
        client_app=make_client_app(lambda _context: config),
        num_supernodes=sim.num_clients,
        backend_config={
            "client_resources": {"num_cpus": sim.client_cpus, "num_gpus": sim.client_gpus},
            "init_args": {"logging_level": logging.ERROR, "include_dashboard": False,
                          "log_to_driver": verbose, **cluster},
        },
        verbose_logging=verbose,
    )
    if not finished:
        raise RuntimeError("the simulation ended without finishing its run; see the log above")
    return finished[0]
