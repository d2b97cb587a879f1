import subprocess
import sys

import pytest

from fedkd.app.experiment_config import load_federated
from fedkd.errors import UserError


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["num_rounds=abc"], "num_rounds='abc' is invalid; allowed: an integer >= 1"),
        (["num_rounds=-3"], "num_rounds=-3 is invalid"),
        (["strategy=nope"], "strategy='nope' is invalid; allowed: one of: ditto, fedavg, fedavg_ft, fedbn, fedckd"),
        (["strategy=fedckd", "strategy.kd_form=mse"],
         "strategy.kd_form='mse' is invalid; allowed: one of: logits, embedding_cosine, relational"),
        (["strategy=fedckd", "strategy.lambda_global=-1"], "strategy.lambda_global=-1 is invalid"),
        (["strategy=fedckd", "strategy.temperature=0"], "strategy.temperature=0 is invalid; allowed: a number > 0"),
        (["strategy=fedper", "strategy.personal_layers=[classifier]"],
         "strategy.personal_layers='classifier' is invalid; allowed: a prefix of the model's parameter names"),
        (["strategy=fedper", "strategy.personal_layers=[]"],
         "strategy.personal_layers=[] is invalid; allowed: a non-empty list of parameter-name prefixes"),
        (["strategy=fedavg", "+strategy.proximal_mu=0.1"],
         "strategy.proximal_mu is not a known config key of strategy=fedavg (it takes: name, local_norm, weighting)"),
        (["strategy.name=fedckd"], "strategy.name='fedckd' is invalid; allowed: the name of the selected option"),
        (["simulation.backend=dask"], "simulation.backend='dask' is invalid; allowed: one of: ray, inprocess"),
        (["partition.alpha=0"], "partition.alpha=0 is invalid; allowed: a number > 0"),
        (["partition.alpha=-1.5"], "partition.alpha=-1.5"),
        (["simulation.num_clients=3000"], "simulation.num_clients=3000 is invalid; allowed: at most 2000"),
        (["dataset=digits", "lowres=none", "simulation.num_clients=1000"], "at most 898"),
        (["dataset=imagefolder"], "dataset.root must be set"),
        (["dataset=digits"], "lowres.size=16 is invalid; allowed: at most 8"),
        (["train.optimizer=rmsprop"], "allowed: one of: adam, sgd"),
        (["train.local_epochs=2.5"], "train.local_epochs=2.5 is invalid; allowed: an integer >= 1"),
        (["simulation.fraction_train=0"], "simulation.fraction_train=0 is invalid; allowed: a number > 0 and <= 1"),
        (["lowres.upsample=maybe"], "lowres.upsample='maybe' is invalid; allowed: true or false"),
        (["+partition.alpah=1"], "partition.alpah is not a known config key of partition=dirichlet "
                                 "(did you mean partition.alpha?)"),
        (["partition.alpah=1"], "partition.alpah is not a known config key (did you mean partition.alpha?)"),
        (["nonexistent=1"], "nonexistent is not a known config key (it takes: seed, num_rounds"),
        (["model=lr_student", "model.widths=[0]"], "model.widths=[0] is invalid; allowed: a non-empty list of "
                                                   "integers > 0"),
        (["dataset.nuisance.yaw=-1"], "dataset.nuisance.yaw=-1 is invalid; allowed: a number >= 0"),
    ],
)
def test_bad_values_name_key_and_allowed(overrides, message):
    with pytest.raises(UserError) as err:
        load_federated(overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_defaults_are_valid_and_resolved():
    config = load_federated([])
    assert config.dataset.name == "faces" and config.num_rounds == 30 and config.strategy.name == "fedavg"
    assert config.output.name == "faces-fedavg-dirichlet-nonprivate-s0"
    assert "${" not in repr(config)


def test_launcher_rejects_bad_sweep_value_before_any_job(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "from fedkd.commands.sim import main; main()", "-m", "seed=0,1",
         "partition.alpha=0.5,-2", f"output.root={tmp_path}/out"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: partition.alpha=-2 is invalid; allowed: a number > 0"
    assert not (tmp_path / "out").exists()


def test_config_cli_get_describe_and_error(capsys):
    from fedkd.commands.config_cli import main

    main(["--get", "simulation.num_clients", "simulation.num_clients=7"])
    assert capsys.readouterr().out.strip() == "7"
    main(["--describe", "strategy=fedckd"])
    assert "strategy.lambda_global = 1.0    # a number >= 0; weight of KD from the last global model" in \
        capsys.readouterr().out.splitlines()
    main(["--command", "faces", "--get", "teacher.train.lr"])
    assert capsys.readouterr().out.strip() == "0.002"
    with pytest.raises(SystemExit) as exit_info:
        main(["--get", "nope.key"])
    assert exit_info.value.code == 2 and "is not a config key" in capsys.readouterr().err


def test_allowed_values_are_described_from_the_type_and_rules():
    from fedkd.config.fields import NOT_EMPTY, above, at_least, at_most, below, describe_type, each, one_of

    assert describe_type(int, (at_least(1),)) == "an integer >= 1"
    assert describe_type(float, (above(0), below(1))) == "a number > 0 and < 1"
    assert describe_type(float | None, (above(0),)) == "a number > 0 or null"
    assert describe_type(str, (one_of(("a", "b")),)) == "one of: a, b"
    assert describe_type(list[int], (NOT_EMPTY, each(above(0)))) == "a non-empty list of integers > 0"
    assert describe_type(list[float], (each(above(0)), each(at_most(1)))) == "a list of numbers > 0 and <= 1"
    assert describe_type(str, (NOT_EMPTY,)) == "a non-empty string"
    assert describe_type(bool) == "true or false"
