"""Run the Flower apps in the in-process Simulation Runtime (Ray backend) from a config dict."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedkd.app import engine_pickup
from fedkd.app.client_app import make_client_app
from fedkd.app.experiment_config import FederatedConfig
from fedkd.app.server_app import prepare_server, serve

# Environment the Ray workers must inherit (see shared/DESIGN.md §3).
RUNTIME_ENV = {"RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0", "FLWR_TELEMETRY_ENABLED": "0",
               "FLWR_DISABLE_UPDATE_CHECK": "1", "RAY_DEDUP_LOGS": "0",
               # Ray's failure-signal handler would abort the driver on SIGTERM before fedkd's handler can write
               # a checkpoint (measured: exit -6 instead of 130)
               "RAY_DISABLE_FAILURE_SIGNAL_HANDLER": "1"}


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
    raised: list[BaseException] = []
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            finished.append(serve(grid, config, output_root, shape, prepared=True, overrides=overrides))
        except BaseException as err:  # Flower logs it in its own thread; the command must see it
            raised.append(err)
            raise

    sim = config.simulation
    cluster = {"address": sim.ray_address} if sim.ray_address else {}
    init_args = {"logging_level": logging.ERROR, "include_dashboard": False, "log_to_driver": verbose, **cluster}
    _init_ray(init_args)
    restore_pickup = engine_pickup.install(sim.instruction_pickup)
    try:
        run_simulation(
            server_app=server_app,
            client_app=make_client_app(lambda _context: config),
            num_supernodes=sim.num_clients,
            backend_config={
                "client_resources": {"num_cpus": sim.client_cpus, "num_gpus": sim.client_gpus},
                "init_args": init_args,
            },
            verbose_logging=verbose,
        )
    finally:
        restore_pickup()
    if raised:
        raise raised[0]
    if not finished:
        raise RuntimeError("the simulation ended without finishing its run; see the log above")
    return finished[0]


def _init_ray(init_args: dict) -> None:
    """Start Ray here, as Flower's Ray backend would (it then reuses it), so that fedkd's SIGINT/SIGTERM
    handlers can be put back after `ray.init` replaced them: a stop then ends the round with a checkpoint."""
    import ray

    from fedkd.checkpoint.interrupts import reinstall_handlers

    if not ray.is_initialized():
        pythonpath = os.pathsep.join([*sys.path, *filter(None, [os.environ.get("PYTHONPATH")])])
        os.environ["PYTHONPATH"] = pythonpath  # Ray's workers import fedkd from the driver's path
        ray.init(runtime_env={"env_vars": {"PYTHONPATH": pythonpath}}, **init_args)
    reinstall_handlers()
