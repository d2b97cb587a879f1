"""Flower's Deployment Engine on loopback: a TLS SuperLink and 3 SuperNodes run 2 rounds of FedCKD, each node
on its own partition file, with client state kept between rounds, and no process is left behind; on demand,
one SuperNode is killed after round 1, or while it replies in round 2, and the run completes with the others,
and a timed-out run leaves nothing running."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fedkd.app.run_config import data_shape_from_context
from fedkd.commands.deploy import deploy, main, write_user_config
from fedkd.data.node_data import read_partition
from fedkd.deploy.cluster import Layout, LocalCluster, processes_with_home
from fedkd.errors import UserError

BIN = Path(sys.executable).parent
MISSING = [b for b in ("flower-superlink", "flower-supernode", "flwr") if not (BIN / b).exists()]
MISSING += [tool for tool in ("openssl", "ssh-keygen") if shutil.which(tool) is None]


def free_port() -> int:
    """A free port p whose neighbours p+100.. are likely free too (SuperNodes use them)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return 20000 + sock.getsockname()[1] % 20000


def _train_rows(results: Path) -> list[dict]:
    rows = []
    for path in results.glob("*/clients.csv"):
        with open(path) as fh:
            rows += [r for r in csv.DictReader(fh) if r["phase"] == "train"]
    return rows


def kill_after_round_1(results: Path, victim: str, killed: dict) -> Callable[[LocalCluster], None]:
    """Once all three SuperNodes have trained in round 1 (its rows are written at the round's end), SIGKILL
    `victim` and its ClientApps."""
    return _kill_when(lambda: len([r for r in _train_rows(results) if r["round"] == "1"]) == 3, victim, killed)


def kill_while_replying_in_round_2(results: Path, victim: str, killed: dict) -> Callable[[LocalCluster], None]:
    """SIGKILL `victim` 1 s after its ClientApp wrote its round-2 state: it is then sending its train reply
    (its objects half uploaded, here, most often) or about to evaluate."""
    def written() -> bool:
        return any(results.glob("*/checkpoints/clients/p00002-r000002.npz"))
    return _kill_when(written, victim, killed, delay=1.0)


def _kill_when(ready: Callable[[], bool], victim: str, killed: dict, delay: float = 0.0
               ) -> Callable[[LocalCluster], None]:
    def watch(cluster: LocalCluster) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if ready():
                time.sleep(delay)
                cluster.kill(victim)
                killed["victim"] = victim
                return
            time.sleep(0.05)

    return lambda cluster: threading.Thread(target=watch, args=(cluster,), daemon=True).start()


def _deployed_run(tmp_path: Path, extra: list[str], on_started: Callable[[LocalCluster], None] | None = None
                  ) -> tuple[Layout, Path, dict[str, dict[str, dict]]]:
    """FedCKD for 2 rounds on a TLS SuperLink and 3 authenticated SuperNodes; checks what every deployment must
    hold and returns the layout, the run and its train rows by round and partition."""
    layout = Layout(tmp_path / "deploy", num_supernodes=3, insecure=False, port=free_port())
    results = tmp_path / "results"
    code = deploy(["dataset=digits", "lowres=none", "num_rounds=2", "strategy=fedckd", "train.local_epochs=1",
                   "simulation.evaluate_every=2", f"output.root={results}", *extra], layout, timeout=400,
                  on_started=on_started)
    assert code == 0
    assert processes_with_home(layout.root) == []  # SuperLink, SuperNodes and all their children are gone
    (run,) = [p for p in results.iterdir() if p.is_dir()]
    assert not run.name.endswith((".incomplete", ".failed"))
    trained = _train_rows(results)
    by_round = {rnd: {r["partition_id"]: r for r in trained if r["round"] == rnd} for rnd in ("1", "2")}
    assert set(by_round["1"]) == {"0", "1", "2"} and len({r["node_id"] for r in by_round["1"].values()}) == 3
    for i in range(3):  # each node trained on exactly its own partition file
        own = torch.load(layout.partition_file(i), weights_only=True)
        assert own["partition_id"] == i
        assert int(by_round["1"][str(i)]["num_examples"]) == len(own["train_y"])
    return layout, run, by_round


@pytest.mark.skipif(bool(MISSING), reason=f"Flower deployment binaries, openssl or ssh-keygen missing: {MISSING}")
def test_tls_superlink_and_three_supernodes_run_two_rounds_of_fedckd(tmp_path):
    layout, _, by_round = _deployed_run(tmp_path, [])
    assert (layout.certs / "server.crt").is_file() and "root-certificates" in (
        layout.user_home / "config.toml").read_text()  # TLS on: certificates made and trusted by the CLI
    assert layout.database.is_file()  # the SuperLink kept its state in a database file
    assert all(Path(f"{layout.node_key(i)}.pub").is_file() for i in range(3))  # registered, authenticated nodes
    assert "authentication is disabled" not in (layout.superlink_home / "superlink.log").read_text()
    for i in range(3):
        second = by_round["2"][str(i)]
        assert second["participations"] == "2"  # the node's state survived between rounds
        assert float(second["loss_kd_historical"]) > 0  # FedCKD's historical teacher came from that state


@pytest.mark.slow
@pytest.mark.on_demand
@pytest.mark.skipif(bool(MISSING), reason=f"Flower deployment binaries, openssl or ssh-keygen missing: {MISSING}")
@pytest.mark.parametrize("kill", [kill_after_round_1, kill_while_replying_in_round_2],
                         ids=["after-round-1", "while-replying-in-round-2"])
def test_a_killed_supernode_leaves_a_run_that_completes_with_the_others(tmp_path, kill):
    """About 2 min each (waits of 40 s for the dead node): `pytest -m on_demand`. Killed while replying, the node
    once held the ServerApp past fedkd-deploy's timeout (docs/reliability.md, "A SuperNode lost mid-run")."""
    killed: dict[str, str] = {}
    _, run, by_round = _deployed_run(tmp_path, ["simulation.round_timeout=40"],
                                     kill(tmp_path / "results", "supernode-2", killed))
    assert killed == {"victim": "supernode-2"}
    healthy = {p for p, r in by_round["2"].items() if r["status"] == "ok"}
    assert healthy >= {"0", "1"}  # the other two are never dropped for the dead node
    for i in (0, 1):
        assert by_round["2"][str(i)]["participations"] == "2" and float(by_round["2"][str(i)]["loss_kd_historical"]) > 0
    with open(run / "clients.csv") as fh:
        lost = {r["status"] for r in csv.DictReader(fh) if r["round"] == "2" and r["partition_id"] == "2"}
    assert lost and lost <= {"ok", "straggler", "crashed"} and lost != {"ok"}  # its instructions went unanswered
    with open(run / "rounds.csv") as fh:
        last = list(csv.DictReader(fh))[-1]
    assert 1 <= int(last["clients_straggled"]) + int(last["clients_crashed"]) <= 2  # reported; the run went on


def test_insecure_mode_is_explicit_and_bad_input_is_one_line(tmp_path, capsys):
    layout = Layout(tmp_path, num_supernodes=2, insecure=True)
    write_user_config(layout)
    assert "insecure = true" in (layout.user_home / "config.toml").read_text()
    with pytest.raises(SystemExit) as exit_info:
        main(["--supernodes", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --supernodes=0 is invalid; allowed: an integer >= 1\n"


def test_a_bad_client_worker_mode_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--client-worker", "lukewarm"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --client-worker=lukewarm is invalid; allowed: warm | per-message\n"


def test_write_partitions_gives_each_host_its_file_and_the_server_its_data_shape(tmp_path, capsys):
    main(["--write-partitions", str(tmp_path), "--supernodes", "2", "dataset=digits", "lowres=none"])
    printed = capsys.readouterr().out
    for i in range(2):
        data, shape = read_partition(str(tmp_path / f"partition-{i}.pt"), i)
        assert data.partition_id == i and shape == (1, 8, 10)
        assert f"--node-config 'partition-id={i} num-partitions=2 data-file=" in printed
        assert 'client-worker="warm"' in printed
    assert "data-shape='1,8,10'" in printed
    context = SimpleNamespace(run_config={"data-shape": "1,8,10"})
    assert data_shape_from_context(context) == (1, 8, 10)  # what the ServerApp reads back


@pytest.mark.parametrize("text", ["1,8", "1,x,10", "0,8,10"])
def test_bad_data_shape_is_one_clear_error(text):
    with pytest.raises(UserError, match=f"data-shape='{text}' is invalid"):
        data_shape_from_context(SimpleNamespace(run_config={"data-shape": text}))


def test_ray_address_points_the_simulation_at_a_running_ray_cluster(monkeypatch):
    """simulation.ray_address reaches ray.init (fedkd starts Ray, then Flower's backend reuses it); unset, Ray
    starts its own."""
    import flwr.simulation

    from fedkd.app import simulation
    from fedkd.app.experiment_config import load_federated
    from fedkd.app.simulation import run_in_simulation

    seen = []
    monkeypatch.setattr(simulation, "_init_ray", seen.append)
    monkeypatch.setattr(flwr.simulation, "run_simulation", lambda **kw: None)
    for address in ("127.0.0.1:6379", None):
        extra = [f"simulation.ray_address={address}"] if address else []
        config = load_federated(["dataset=digits", "lowres=none", "simulation.num_clients=3", *extra])
        with pytest.raises(RuntimeError, match="without finishing"):  # the stub runs no rounds
            run_in_simulation(config)
    assert seen[0]["address"] == "127.0.0.1:6379"
    assert "address" not in seen[1]


@pytest.mark.on_demand
@pytest.mark.skipif(bool(MISSING), reason=f"Flower deployment binaries, openssl or ssh-keygen missing: {MISSING}")
def test_a_failed_run_leaves_nothing_running_and_a_restarted_superlink_keeps_its_runs(tmp_path):
    """About 35 s, so on demand (`pytest -m on_demand`); the default TLS run above checks cleanup after success."""
    layout = Layout(tmp_path / "deploy", num_supernodes=2, insecure=False, port=free_port())
    with pytest.raises(UserError, match="did not finish within --timeout 15 s"):
        deploy(["dataset=digits", "lowres=none", "num_rounds=50", f"output.root={tmp_path / 'results'}"], layout,
               timeout=15)
    assert processes_with_home(layout.root) == []
    cluster = LocalCluster(layout, BIN)  # the same SuperLink command on the same database file
    try:
        cluster.start_superlink()
        listed = subprocess.run([str(BIN / "flwr"), "ls", "--format", "json"], env=cluster.env(layout.user_home),
                                capture_output=True, text=True, check=True)
    finally:
        cluster.stop()
    assert len(json.loads(listed.stdout)["runs"]) == 1  # the interrupted run is still in its history
    assert processes_with_home(layout.root) == []
