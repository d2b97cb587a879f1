"""Sites' own images as partition files: one label index per identity across sites, the configured
resolution and LR view, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fedkd.app.experiment_config import load_federated
from fedkd.commands.site_data import main
from fedkd.data.federated import prepare_federation
from fedkd.data.node_data import read_partition
from fedkd.errors import UserError

RUN = ["dataset.resolution=16", "dataset.grayscale=true", "lowres.size=8", "simulation.num_clients=2",
       "partition.test_fraction=0.25"]


def make_site(root, identities, per_identity=4, seed=0):
    rng = np.random.default_rng(seed)
    for name in identities:
        (root / name).mkdir(parents=True)
        for k in range(per_identity):
            Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(root / name / f"{k}.png")
    return root


def test_each_site_writes_its_images_under_the_federations_label_indices(tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("carol\nalice\nbob\n")
    make_site(tmp_path / "site0", ["alice", "carol"])
    make_site(tmp_path / "site1", ["bob"], seed=1)
    for i in (0, 1):
        main([str(tmp_path / f"site{i}"), "--labels", str(labels), "--partition-id", str(i),
              "--out", str(tmp_path / f"p{i}.pt"), *RUN, f"data_cache={tmp_path / 'cache'}"])
    printed = capsys.readouterr().out
    assert "data-shape='1,8,3'" in printed and "partition-id=1 num-partitions=2 data-file=" in printed
    site0, shape = read_partition(str(tmp_path / "p0.pt"), 0)
    site1, _ = read_partition(str(tmp_path / "p1.pt"), 1)
    assert shape == (1, 8, 3)
    assert set(torch.cat([site0.train_y, site0.test_y]).tolist()) == {0, 1}  # carol=0, alice=1 by the list
    assert set(torch.cat([site1.train_y, site1.test_y]).tolist()) == {2}  # bob=2 although alone at its site
    assert (len(site0.train_y), len(site0.test_y)) == (5, 2)  # 8 images: 2 test, 1 validation (not stored)
    assert site0.train_x.shape[1:] == (1, 8, 8) and site0.train_hr.shape[1:] == (1, 16, 16)


def test_site_errors_are_one_line(tmp_path, capsys):
    make_site(tmp_path / "site", ["alice", "dave"])
    (tmp_path / "labels.txt").write_text("alice\nbob\n")
    (tmp_path / "twice.txt").write_text("alice\nalice\n")
    cases = [
        (["--labels", str(tmp_path / "labels.txt"), "--partition-id", "0"], "identity folders dave of"),
        (["--labels", str(tmp_path / "twice.txt"), "--partition-id", "0"], "repeats alice; list each identity once"),
        (["--labels", str(tmp_path / "labels.txt"), "--partition-id", "2"], "--partition-id 2 is outside 0..1"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main([str(tmp_path / "site"), *args, "--out", str(tmp_path / "p.pt"), *RUN])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "p.pt").exists()


def test_a_missing_image_root_is_reported_when_the_data_is_loaded(tmp_path):
    """The config does not require dataset.root to exist (servers and SuperNodes holding partition files
    never read it); loading it does."""
    config = load_federated(["dataset=imagefolder", "dataset.root=/no/such/dir", *RUN])
    with pytest.raises(UserError, match=r"dataset\.root='/no/such/dir' is not a folder"):
        prepare_federation(config.federation())
