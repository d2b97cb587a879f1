"""A SuperLink and N SuperNodes on this machine, started and stopped as one unit.

Every process is started in a session of its own, so that stopping it by PID also stops what it spawned
(a SuperNode starts a SuperExec and ClientApp processes; a SuperLink a SuperExec and ServerApp
processes): TERM to the whole group, then KILL to whatever is left after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fedkd.errors import UserError
from fedkd.protocol.run_config import WARM

FLOWER_ENV = {"FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "FLWR_DISABLE_UPDATE_CHECK": "1",
              "FLWR_TELEMETRY_ENABLED": "0", "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0"}


def node_config_line(partition_id: int, num_partitions: int, data_file: Path, client_worker: str = WARM) -> str:
    """A SuperNode's --node-config: which partition it is, the file that holds it, and whether a warm worker
    or a new process per message runs the node's ClientApp (fedkd/app/warm_worker.py)."""
    return (f'partition-id={partition_id} num-partitions={num_partitions} data-file="{data_file}" '
            f'client-worker="{client_worker}"')


@dataclass
class Layout:
    """Where one local deployment keeps its files."""

    root: Path
    num_supernodes: int
    insecure: bool
    host: str = "127.0.0.1"
    port: int = 9200
    authenticate: bool = True  # CLI-managed SuperNode authentication (needs TLS)
    client_worker: str = WARM  # warm: one long-lived fedkd process per SuperNode | per-message: Flower's

    @property
    def uses_auth(self) -> bool:
        return self.authenticate and not self.insecure

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def superlink_home(self) -> Path:
        return self.root / "superlink"

    @property
    def database(self) -> Path:
        return self.superlink_home / "state.db"

    def supernode_home(self, i: int) -> Path:
        return self.root / f"supernode-{i}"

    def node_key(self, i: int) -> Path:
        """The SuperNode's private EC key (OpenSSH format); its public key is beside it with `.pub`."""
        return self.supernode_home(i) / "node-key"

    def partition_file(self, i: int) -> Path:
        return self.supernode_home(i) / f"partition-{i}.pt"

    @property
    def user_home(self) -> Path:
        return self.root / "user"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class LocalCluster:
    layout: Layout
    bin_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def env(self, home: Path) -> dict[str, str]:
        path = f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}"
        env = os.environ | FLOWER_ENV | {"FLWR_HOME": str(home), "PATH": path}
        env.setdefault("FLWR_LOG_LEVEL", "INFO")
        return env

    def _start(self, name: str, args: list[str], home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        log = open(home / f"{name}.log", "w")  # noqa: SIM115 - the child process owns it
        self.processes[name] = subprocess.Popen([str(self.bin_dir / args[0]), *args[1:]], env=self.env(home),
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _tls(self) -> list[str]:
        return [] if self.layout.insecure else [
            "--ssl-ca-certfile", str(self.layout.certs / "ca.crt"), "--ssl-certfile",
            str(self.layout.certs / "server.crt"), "--ssl-keyfile", str(self.layout.certs / "server.key")]

    def start_superlink(self) -> None:
        layout = self.layout
        if _port_in_use(layout.host, layout.port):
            raise UserError(f"port {layout.port} on {layout.host} is in use; pass --port with a free one")
        security = ["--insecure"] if layout.insecure else self._tls()
        security += ["--enable-supernode-auth"] if layout.uses_auth else []
        self._start("superlink", ["flower-superlink", *security, "--host", layout.host, "--port", str(layout.port),
                                  "--database", str(layout.database), "--disable-runtime-dependency-installation"],
                    layout.superlink_home)
        _wait_for_port(layout.host, layout.port, self.processes["superlink"], layout.superlink_home / "superlink.log")

    def start_supernodes(self, base_port: int) -> None:
        layout = self.layout
        security = ["--insecure"] if layout.insecure else ["--root-certificates", str(layout.certs / "ca.crt")]
        for i in range(layout.num_supernodes):
            auth = ["--auth-supernode-private-key", str(layout.node_key(i))] if layout.uses_auth else []
            node_config = node_config_line(i, layout.num_supernodes, layout.partition_file(i), layout.client_worker)
            self._start(f"supernode-{i}", ["flower-supernode", *security, *auth, "--superlink", layout.address,
                                           "--port", str(base_port + i), "--node-config", node_config],
                        layout.supernode_home(i))

    def register_supernodes(self) -> None:
        """A key pair per SuperNode (ssh-keygen, ECDSA P-384) and its public key registered with the SuperLink:
        with --enable-supernode-auth, only registered SuperNodes may connect."""
        for i in range(self.layout.num_supernodes):
            key = self.layout.node_key(i)
            key.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", "384", "-N", "", "-C", f"fedkd-supernode-{i}",
                            "-f", str(key)], check=True)
            done = subprocess.run([str(self.bin_dir / "flwr"), "supernode", "register", f"{key}.pub"],
                                  env=self.env(self.layout.user_home), capture_output=True, text=True)
            if done.returncode != 0:
                raise UserError(f"registering SuperNode {i} failed: {done.stdout.strip().splitlines()[-1:]}")

    def kill(self, name: str) -> None:
        """SIGKILL process `name` and its children at once, as a lost machine would stop them."""
        _signal_group(self.processes[name], signal.SIGKILL)
        self.processes[name].wait()

    def running(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is None]

    def stop(self, grace_seconds: float = 10.0) -> None:
        """TERM every process group (SuperNodes first), KILL what is left after the grace period; then the
        same for any process that left those groups (Flower starts SuperExec in a session of its own),
        found by its FLWR_HOME under this deployment's folder."""
        order = sorted(self.processes, key=lambda name: name == "superlink")
        for name in order:
            _signal_group(self.processes[name], signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for name in order:
            process = self.processes[name]
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)
            process.wait()
        _stop_pids(lambda: processes_with_home(self.layout.root), grace_seconds)


def processes_with_home(root: Path) -> list[int]:
    """Live processes (not zombies) whose FLWR_HOME lies under `root` (Linux /proc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(e.startswith(b"FLWR_HOME=" + str(root).encode()) for e in environ):
            found.append(int(pid))
    return found


def _stop_pids(find: Callable[[], list[int]], grace_seconds: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in find():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_seconds
        while find() and time.monotonic() < deadline:
            time.sleep(0.2)


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # the process leads its own session: this reaches its children too


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def _wait_for_port(host: str, port: int, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not _port_in_use(host, port):
        if process.poll() is not None:
            raise UserError(f"the SuperLink exited at start (code {process.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise UserError(f"the SuperLink did not listen on {host}:{port} within {timeout:.0f} s; see {log}")
        time.sleep(0.3)
