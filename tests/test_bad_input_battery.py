"""The bad-input battery: every command, given a bad value, a damaged or foreign file, an unwritable output
folder or a full disk, prints one `error:` line naming the value and the fix, exits with code 2, and leaves no
run directory or cache entry that looks like a result (a run that had started is kept as `.failed`)."""

from __future__ import annotations

import errno
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fedkd.commands import config_cli, deploy, faces, gen, plot, sim, site_data, tune
from fedkd.commands.skeleton import user_errors
from fedkd.data.node_data import read_partition
from fedkd.results.run_dir import CsvLog, RunDirectory
from tests.test_face_experiment import TINY as FACES_TINY

GEN = ["dataset=digits", "data.max_train=64", "generator.network.width=8", "generator.noise.num_levels=2",
       "generator.train.epochs=1", "generator.train.progress=false", "evaluation.num_samples=20"]
SIM = ["simulation.backend=inprocess", "dataset=digits", "lowres=none", "num_rounds=1", "train.local_epochs=1",
       "simulation.num_clients=2"]


def face_folder(root: Path, identities: int = 6, per_identity: int = 4, empty: int | None = None,
                corrupt: bool = False) -> Path:
    rng = np.random.default_rng(0)
    for i in range(identities):
        (root / f"id{i}").mkdir(parents=True, exist_ok=True)
        for k in range(0 if i == empty else per_identity):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / f"id{i}" / f"{k}.png")
    if corrupt:
        (root / "id0" / "bad.png").write_bytes(b"not an image")
    return root


@dataclass
class Inputs:
    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def folder(self, name: str, **kwargs: int | bool | None) -> Path:
        return face_folder(self.root / name, **kwargs)

    def file(self, name: str, content: bytes = b"x") -> Path:
        (self.root / name).write_bytes(content)
        return self.root / name

    def run_dir(self, name: str, resume: dict | None = None, checkpoint: bytes | None = None) -> Path:
        path = self.root / name
        (path / "checkpoints").mkdir(parents=True)
        if resume is not None:
            (path / "checkpoints" / "resume.json").write_text(json.dumps(resume))
        if checkpoint is not None:
            (path / "checkpoints" / "round-000001.ckpt").write_bytes(checkpoint)
        return path


Args = Callable[[Inputs], list[str]]
HYDRA = {"fedkd-sim": sim.main, "fedkd-gen": gen.main, "fedkd-faces": faces.main}
ARGPARSE = {"fedkd-plot": plot.main, "fedkd-tune": tune.main, "fedkd-deploy": deploy.main,
            "fedkd-site-data": site_data.main, "fedkd-config": config_cli.main}


def sim_args(*extra: str) -> Args:
    return lambda i: [*SIM, f"output.root={i.out}", f"data_cache={i.cache}", *[e.format(i=i) for e in extra]]


def gen_args(*extra: str) -> Args:
    return lambda i: [*GEN, f"output.root={i.out}", f"data_cache={i.cache}", *[e.format(i=i) for e in extra]]


def faces_args(*extra: str) -> Args:
    tiny = [o for o in FACES_TINY if not o.startswith("dataset.")]  # the cases bring their own face folders
    return lambda i: [*tiny, f"output.root={i.out}", f"data_cache={i.cache}", *[e.format(i=i) for e in extra]]


def on_folder(args: Args, name: str, **layout: int | bool) -> Args:
    """`args` with `dataset.root` set to a face folder of this layout."""
    return lambda i: [*args(i), f"dataset.root={i.folder(name, **layout)}"]


def sim_resume(i: Inputs) -> dict:
    return {"command": "fedkd-sim", "overrides": sim_args()(i), "fingerprint": "0" * 64}


IMAGES = "dataset=imagefolder"
CASES: dict[str, tuple[str, Args, tuple[str, ...]]] = {
    "sim-bad-value": ("fedkd-sim", sim_args("num_rounds=0"), ("num_rounds=0", "allowed: an integer >= 1")),
    "sim-unknown-choice": ("fedkd-sim", sim_args("strategy=nope"), ("strategy='nope'", "one of: ditto")),
    "sim-unknown-key": ("fedkd-sim", sim_args("train.nope=1"), ("train.nope",)),
    "sim-corrupt-image": ("fedkd-sim", on_folder(sim_args(IMAGES), "bad", corrupt=True),
                          ("id0/bad.png is not a readable image", "delete or replace it")),
    "sim-empty-identity": ("fedkd-sim", on_folder(sim_args(IMAGES), "empty", empty=2),
                           ("empty/id2 holds no images", "remove it or add")),
    "sim-output-is-a-file": ("fedkd-sim", sim_args("output.root={i.root}/afile/results"),
                             ("output.root=", "afile is a file, not a folder; choose another output.root")),
    "sim-cache-is-a-file": ("fedkd-sim", sim_args("data_cache={i.root}/afile/cache"),
                            ("data_cache=", "afile is a file, not a folder; choose another data_cache")),
    "sim-resume-missing": ("fedkd-sim", lambda i: [f"resume={i.root}/gone.incomplete"],
                           ("gone.incomplete: no such run directory", "give the folder of the interrupted run")),
    "sim-resume-damaged-checkpoint": ("fedkd-sim", lambda i: [
        f"resume={i.run_dir('r.incomplete', sim_resume(i), b'garbage')}"],
        ("round-000001.ckpt is not a fedkd checkpoint", "delete round-000001.ckpt")),
    "sim-resume-damaged-resume-file": ("fedkd-sim", lambda i: [f"resume={i.run_dir('r.incomplete', {})}"],
                                       ("resume.json is damaged", "start the run again")),
    "sim-resume-extra-override": ("fedkd-sim", lambda i: [
        f"resume={i.run_dir('r.incomplete', sim_resume(i))}", "seed=4"], ("drop seed=4", "only checkpoint.*")),
    "gen-bad-epsilon": ("fedkd-gen", gen_args("gen_privacy=dp", "gen_privacy.target_epsilon=-1"),
                        ("gen_privacy.target_epsilon=-1", "a number > 0")),
    "gen-unknown-generator": ("fedkd-gen", gen_args("generator=nope"), ("generator='nope'", "dp_merf, score_ssm")),
    "gen-corrupt-image": ("fedkd-gen", on_folder(gen_args(IMAGES), "bad", corrupt=True),
                          ("bad.png is not a readable image", "delete or replace")),
    "gen-missing-dataset-root": ("fedkd-gen", gen_args(IMAGES, "dataset.root=/no/such/faces"),
                                 ("dataset.root='/no/such/faces' is not a folder",
                                  "point it to root/<identity>/<image> files")),
    "gen-output-is-a-file": ("fedkd-gen", gen_args("output.root={i.root}/afile/x"), ("is a file, not a folder",)),
    "gen-resume-of-a-sim-run": ("fedkd-gen", lambda i: [f"resume={i.run_dir('r.incomplete', sim_resume(i))}"],
                                ("is a fedkd-sim run", "continue it with: fedkd-sim resume=")),
    "gen-resume-finished-run": ("fedkd-gen", lambda i: [f"resume={i.run_dir('20261201-run')}"],
                                ("is a finished run", "nothing to resume")),
    "gen-resume-in-a-sweep": ("fedkd-gen", lambda i: ["-m", f"resume={i.run_dir('r.incomplete')}"],
                              ("resume= continues one run", "hydra.sweep.dir")),
    "faces-three-identities": ("fedkd-faces", on_folder(faces_args(IMAGES), "few", identities=3),
                               ("has 3 identities", "add identities")),
    "faces-one-image-each": ("fedkd-faces", on_folder(faces_args(IMAGES, "evaluation.eval_identities=2"), "single",
                                                      per_identity=1),
                             ("have one image each", "give identities at least 2 images")),
    "faces-empty-identity": ("fedkd-faces", on_folder(faces_args(IMAGES), "empty", empty=0),
                             ("id0 holds no images", "remove it")),
    "faces-too-many-held-out": ("fedkd-faces", on_folder(faces_args(IMAGES, "evaluation.eval_identities=50"), "ten",
                                                         identities=10),
                                ("evaluation.eval_identities=50 does not fit", "set evaluation.eval_identities=2")),
    "faces-corrupt-image": ("fedkd-faces", on_folder(faces_args(IMAGES, "evaluation.eval_identities=2"), "bad",
                                                     corrupt=True),
                            ("bad.png is not a readable image", "delete or replace")),
    "plot-damaged-summary": ("fedkd-plot", lambda i: ["privacy-utility", str(_damaged_run(i))],
                             ("summary.json cannot be read", "re-run that run or move its directory")),
    "plot-missing-path": ("fedkd-plot", lambda i: ["curves", str(i.root / "nowhere")],
                          ("nowhere does not exist", "pass run directories or sweep folders")),
    "plot-no-finished-runs": ("fedkd-plot", lambda i: ["curves", str(i.run_dir("x.incomplete"))],
                              ("no finished run directories", "fedkd-sim / fedkd-gen wrote")),
    "tune-no-trials": ("fedkd-tune", lambda i: ["--trials", "0"], ("--trials=0", "at least 1")),
    "tune-bad-choice": ("fedkd-tune", lambda i: ["--choice", "nokey"], ("'nokey' is not KEY=V1,V2", "e.g. --choice")),
    "tune-bad-choice-value": ("fedkd-tune", lambda i: ["--choice", "train.lr=0.1,-1", "--out", str(i.out)],
                              ("train.lr=-1", "a number > 0")),
    "deploy-no-supernodes": ("fedkd-deploy", lambda i: ["--supernodes", "0"], ("--supernodes=0", "an integer >= 1")),
    "deploy-partitions-under-a-file": ("fedkd-deploy", lambda i: [
        "--write-partitions", str(i.file("afile") / "parts"), "dataset=digits", "lowres=none"],
        ("afile", "a file stands where a folder is expected")),
    "site-data-no-labels": ("fedkd-site-data", lambda i: [
        str(i.folder("site")), "--labels", str(i.root / "none.txt"), "--partition-id", "0", "--out",
        str(i.root / "p.pt")], ("none.txt does not exist", "one identity per line")),
    "site-data-corrupt-image": ("fedkd-site-data", lambda i: [
        str(i.folder("bad", corrupt=True)), "--labels", str(i.file("labels.txt", b"id0\nid1\n")),
        "--partition-id", "0", "--out", str(i.root / "p.pt"), "dataset=imagefolder",
        f"dataset.root={i.root / 'bad'}"], ("bad.png is not a readable image", "delete or replace")),
    "config-unknown-key": ("fedkd-config", lambda i: ["--get", "nope.key"], ("'nope.key' is not a config key",
                                                                              "run fedkd-config to list them")),
    "config-unknown-choice": ("fedkd-config", lambda i: ["--command", "gen", "generator=nope"],
                              ("generator='nope'", "one of")),
}


def _damaged_run(i: Inputs) -> Path:
    path = i.root / "runs" / "20261201-run"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("seed: 0\nstrategy: {name: fedavg}\n")
    (path / "summary.json").write_text("{not json")
    return i.root / "runs"


def invoke(command: str, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
           ) -> tuple[int, list[str]]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        if command in HYDRA:
            monkeypatch.setattr(sys, "argv", [command, *argv])
            HYDRA[command]()
        else:
            ARGPARSE[command](argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return stop.value.code, [line for line in err.splitlines() if line.strip()]


def leftovers(inputs: Inputs) -> list[str]:
    """What looks like a result: a run directory not marked unfinished, or a half-written cache file."""
    runs = [p.name for p in inputs.out.rglob("*") if p.is_dir() and (p / "summary.json").exists()] \
        if inputs.out.exists() else []
    partial = [p.name for p in inputs.root.rglob("*.tmp*")]
    return runs + partial


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_naming_the_value_and_the_fix(case, tmp_path, monkeypatch, capsys):
    command, args, expected = CASES[case]
    inputs = Inputs(tmp_path)
    (tmp_path / "afile").write_text("a file where a folder should be")
    code, lines = invoke(command, args(inputs), monkeypatch, capsys)
    errors = [line for line in lines if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and lines[-1] == errors[0], lines
    assert all(text in errors[0] for text in expected), errors[0]
    assert leftovers(inputs) == []


@pytest.mark.parametrize(("command", "args", "writer"), [
    ("fedkd-gen", gen_args(), (RunDirectory, "write_jsonl")),
    ("fedkd-sim", sim_args(), (CsvLog, "append")),
], ids=["gen", "sim"])
def test_a_full_disk_is_one_line_and_the_run_is_kept_as_failed(command, args, writer, tmp_path, monkeypatch, capsys):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "some.file"))

    monkeypatch.setattr(*writer, full)
    inputs = Inputs(tmp_path)
    code, lines = invoke(command, args(inputs), monkeypatch, capsys)
    assert code == 2 and lines[-1] == (f"error: {tmp_path}/out/some.file: No space left on device; free space on "
                                       "that disk (or point output.root / data_cache elsewhere), then run again")
    assert [p.suffix for p in inputs.out.iterdir()] == [".failed"] and leftovers(inputs) == []


def test_a_user_error_during_the_run_is_one_line_and_a_failure_record(tmp_path, monkeypatch, capsys):
    inputs = Inputs(tmp_path)
    code, lines = invoke("fedkd-gen", gen_args("gen_privacy=dp", "gen_privacy.accountant=rdp",
                                               "gen_privacy.target_epsilon=0.5", "gen_privacy.noise_multiplier=0.5"
                                               )(inputs), monkeypatch, capsys)
    assert code == 2 and lines[-1] == (
        "error: gen_privacy.noise_multiplier=0.5 spends gen_privacy.target_epsilon=0.5 in one step; raise the noise "
        "multiplier (or set it to null) or the target")
    (failed,) = inputs.out.iterdir()
    assert failed.name.endswith(".failed") and (failed / "config.yaml").is_file()
    assert (failed / "error.txt").read_text().startswith("UserError: gen_privacy.noise_multiplier=0.5 spends")


def test_a_partition_file_that_is_damaged_or_another_clients_is_refused(tmp_path, capsys):
    damaged = tmp_path / "partition-0.pt"
    damaged.write_bytes(b"\x80garbage")
    with pytest.raises(SystemExit), user_errors():
        read_partition(str(damaged), 0)
    assert re.fullmatch(rf"error: data-file={damaged} is not a readable partition file \(\w+\); write it again "
                        "with fedkd-site-data or fedkd-deploy --write-partitions", capsys.readouterr().err.strip())
    other = tmp_path / "partition-1.pt"
    empty = torch.zeros(0)
    torch.save({"partition_id": 1, "shape": (1, 8, 8), "train_x": empty, "train_y": empty, "test_x": empty,
                "test_y": empty, "train_hr": empty, "test_hr": empty}, other)
    with pytest.raises(SystemExit), user_errors():
        read_partition(str(other), 0)
    assert "holds partition 1, but this SuperNode is partition-id=0" in capsys.readouterr().err


def test_a_damaged_cache_entry_is_built_again(tmp_path, capsys):
    from fedkd.data.cache import load_or_build

    path = tmp_path / "entry.npz"
    path.write_bytes(b"PK\x03\x04 cut short")
    arrays = load_or_build(path, lambda: {"x": np.arange(3)})
    assert np.array_equal(arrays["x"], np.arange(3)) and "is damaged" in capsys.readouterr().err
    assert np.array_equal(load_or_build(path, lambda: {"x": np.zeros(1)})["x"], np.arange(3))


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    from fedkd.data.user_data import load_image_folder

    ramp = (np.arange(16 * 16).reshape(16, 16) * 256).astype(np.uint16)
    for ident in ("a", "b"):
        (tmp_path / "faces" / ident).mkdir(parents=True)
        Image.fromarray(ramp).save(tmp_path / "faces" / ident / "0.png")
    data = load_image_folder(tmp_path / "faces", 16, True, tmp_path / "cache")
    assert np.abs(data.images[0, ..., 0].astype(int) - np.round(ramp / 257)).max() <= 1
