"""`fedkd-deploy`: the fedkd app on Flower's Deployment Engine, on this machine: one SuperLink and N
SuperNodes (each with its own FLWR_HOME and only its own partition file), TLS and SuperNode
authentication on by default, the SuperLink's state in a database file; submits the run with
`flwr run`, streams its log, and stops every process it started, also when the run fails or is
interrupted.

    fedkd-deploy [--supernodes 3] [--port 9200] [--insecure] [--no-node-auth] [--dir DIR] [--timeout S]
                 [--client-worker warm|per-message] [OVERRIDES...]
    fedkd-deploy --write-partitions DIR [--supernodes N] [OVERRIDES...]

OVERRIDES are the Hydra overrides of `fedkd-sim` (simulation.num_clients is set to --supernodes).
`--write-partitions` only writes each SuperNode's partition file (to copy to the hosts of a multi-host
deployment) and prints the node config and run config to use with them.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fedkd.app.experiment_config import FederatedConfig, load_federated
from fedkd.commands.skeleton import user_errors
from fedkd.data.node_data import write_partition
from fedkd.deploy.cluster import Layout, LocalCluster, node_config_line
from fedkd.errors import UserError
from fedkd.paths import PROJECT_ROOT, expand
from fedkd.protocol.run_config import CLIENT_WORKERS, DATA_SHAPE, OUTPUT_ROOT, OVERRIDES, WARM
from fedkd.results.run_dir import FAILED, INCOMPLETE

CONNECTION = "fedkd-deploy"


def write_user_config(layout: Layout) -> None:
    """The `flwr` CLI's connection to this SuperLink (FLWR_HOME/config.toml of the submitting user)."""
    layout.user_home.mkdir(parents=True, exist_ok=True)
    security = 'insecure = true' if layout.insecure else f'root-certificates = "{layout.certs / "ca.crt"}"'
    (layout.user_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "{layout.address}"\n'
        f"{security}\n")


def make_certificates(layout: Layout) -> None:
    subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "make-certificates.sh"), str(layout.certs),
                    layout.host, "localhost"], check=True, stdout=subprocess.DEVNULL)


def federation_config(overrides: list[str], num_supernodes: int) -> tuple[list[str], FederatedConfig]:
    """The overrides with one client per SuperNode, and the checked config they give."""
    overrides = [*overrides, f"simulation.num_clients={num_supernodes}"]
    return overrides, load_federated(overrides)


def write_partition_files(config: FederatedConfig, files: list[Path]) -> str:
    """Partition i into files[i]; returns the data shape as the run config's data-shape wants it."""
    shapes = set()
    for i, path in enumerate(files):
        path.parent.mkdir(parents=True, exist_ok=True)
        shapes.add(write_partition(config.federation(), i, path))
    (shape,) = shapes  # every partition of one data set has the same shape
    return ",".join(map(str, shape))


def write_partitions(overrides: list[str], num_supernodes: int, folder: Path) -> None:
    """Each SuperNode's partition file, and the configs that go with them."""
    overrides, config = federation_config(overrides, num_supernodes)
    shape = write_partition_files(config, [folder / f"partition-{i}.pt" for i in range(num_supernodes)])
    print(f"wrote {num_supernodes} partition files to {folder}; copy partition-<i>.pt to SuperNode i's host")
    host_path = Path("/path/on/host")
    for i in range(num_supernodes):
        print(f"SuperNode {i}: --node-config '{node_config_line(i, num_supernodes, host_path / f'partition-{i}.pt')}'")
    print(f"flwr run: --run-config \"{OVERRIDES}='{' '.join(overrides)}' {DATA_SHAPE}='{shape}'\"")


def deploy(overrides: list[str], layout: Layout, timeout: float,
           on_started: Callable[[LocalCluster], None] | None = None) -> int:
    """Run one experiment on a fresh local deployment; returns `flwr run`'s exit code. `on_started` sees the
    cluster once its SuperNodes are up (a test kills one mid-run through it)."""
    overrides, config = federation_config(overrides, layout.num_supernodes)
    if layout.insecure:
        print("warning: --insecure: SuperLink and SuperNodes talk in plain text, without TLS", file=sys.stderr)
    else:
        make_certificates(layout)
    shape = write_partition_files(config, [layout.partition_file(i) for i in range(layout.num_supernodes)])
    write_user_config(layout)
    cluster = LocalCluster(layout, Path(sys.executable).parent)
    try:
        cluster.start_superlink()
        if layout.uses_auth:
            cluster.register_supernodes()
        cluster.start_supernodes(base_port=layout.port + 100)
        if on_started is not None:
            on_started(cluster)
        run_config = (f"{OVERRIDES}={shlex.quote(' '.join(overrides))} {OUTPUT_ROOT}='{expand(config.output.root)}' "
                      f"{DATA_SHAPE}='{shape}'")
        command = [str(cluster.bin_dir / "flwr"), "run", str(PROJECT_ROOT), CONNECTION, "--stream",
                   "--run-config", run_config]
        output_root = expand(config.output.root)
        before = set(output_root.iterdir()) if output_root.is_dir() else set()
        started = time.monotonic()
        submit = subprocess.Popen(command, env=cluster.env(layout.user_home), start_new_session=True)
        cluster.processes["flwr-run"] = submit
        try:
            code = submit.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UserError(f"the run did not finish within --timeout {timeout:.0f} s; logs in {layout.root}") from None
        if code != 0:
            return code
        return _wait_for_run_directory(output_root, before, timeout - (time.monotonic() - started), layout.root)
    finally:
        cluster.stop()
        left = cluster.running()
        print(f"stopped SuperLink and {layout.num_supernodes} SuperNodes"
              + (f"; still running: {', '.join(left)}" if left else ""), file=sys.stderr)


def _wait_for_run_directory(root: Path, before: set[Path], seconds: float, logs: Path) -> int:
    """`flwr run --stream` can return 0 when its log stream drops while the run goes on: wait until the
    ServerApp has renamed a new run directory into place (0) or marked it failed (1)."""
    deadline = time.monotonic() + max(seconds, 0.0)
    while time.monotonic() < deadline:
        new = [p for p in (set(root.iterdir()) if root.is_dir() else set()) - before if p.is_dir()]
        if any(p.name.endswith(FAILED) for p in new):
            return 1
        if any(not p.name.endswith((INCOMPLETE, FAILED)) for p in new):
            return 0
        time.sleep(0.5)
    raise UserError(f"the run did not finish within --timeout; logs in {logs}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fedkd-deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supernodes", type=int, default=3)
    parser.add_argument("--port", type=int, default=9200, help="SuperLink port (SuperNodes use port+100+i)")
    parser.add_argument("--insecure", action="store_true", help="no TLS (plain text); only when asked for")
    parser.add_argument("--no-node-auth", action="store_true",
                        help="let any SuperNode connect (default with TLS: only the registered ones)")
    parser.add_argument("--dir", type=Path, help="where certificates, homes, logs and the database go "
                        "(default results/deploy/<time>)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds the run may take")
    parser.add_argument("--client-worker", default=WARM,
                        help=f"{' | '.join(CLIENT_WORKERS)}: each SuperNode's ClientApps hand their messages to one "
                        "long-lived fedkd process (default), or each runs in a new process, as Flower does")
    parser.add_argument("--write-partitions", type=Path, metavar="DIR",
                        help="only write the SuperNodes' partition files to DIR (for a multi-host deployment)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on `kill` as on Ctrl-C
    with user_errors():
        if args.supernodes < 1:
            raise UserError(f"--supernodes={args.supernodes} is invalid; allowed: an integer >= 1")
        if args.client_worker not in CLIENT_WORKERS:
            raise UserError(f"--client-worker={args.client_worker} is invalid; allowed: {' | '.join(CLIENT_WORKERS)}")
        if args.write_partitions:
            write_partitions(args.overrides, args.supernodes, args.write_partitions.resolve())
            return
        root = args.dir or PROJECT_ROOT / "results" / "deploy" / time.strftime("%Y%m%d-%H%M%S")
        layout = Layout(root.resolve(), args.supernodes, args.insecure, port=args.port,
                        authenticate=not args.no_node_auth, client_worker=args.client_worker)
        code = deploy(args.overrides, layout, args.timeout)
    sys.exit(code)



