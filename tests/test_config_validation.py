import subprocess
import sys

import pytest

from fedkd.config.compose import compose_config
from fedkd.config.validate import validate
from fedkd.errors import UserError


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["num_rounds=abc"], "num_rounds='abc' is invalid; allowed: an integer >= 1"),
        (["num_rounds=-3"], "num_rounds=-3 is invalid"),
        (["strategy=nope"], "Could not find 'strategy/nope' Available options in 'strategy'"),
        (["strategy=fedckd", "strategy.kd_form=mse"],
         "strategy.kd_form='mse' is invalid; allowed: one of: logits, embedding_cosine, relational"),
        (["strategy=fedckd", "strategy.lambda_global=-1"], "strategy.lambda_global=-1 is invalid"),
        (["strategy=fedckd", "strategy.temperature=0"], "strategy.temperature=0 is invalid; allowed: a number > 0"),
        (["strategy=fedper", "strategy.personal_layers=[classifier]"],
         "strategy.personal_layers='classifier' is invalid; allowed: a prefix of the model's parameter names"),
        (["strategy=fedavg", "+strategy.proximal_mu=0.1"], "strategy.proximal_mu is not a known config key"),
        (["simulation.backend=dask"], "simulation.backend='dask' is invalid; allowed: one of: ray, inprocess"),
        (["partition.alpha=0"], "partition.alpha=0 is invalid; allowed: a number > 0"),
        (["partition.alpha=-1.5"], "partition.alpha=-1.5"),
        (["simulation.num_clients=3000"], "simulation.num_clients=3000 is invalid; allowed: at most 2000"),
        (["dataset=digits", "lowres=none", "simulation.num_clients=1000"], "at most 898"),
        (["dataset=imagefolder"], "dataset.root must be set"),
        (["dataset=digits"], "lowres.size=16 is invalid; allowed: at most 8"),
        (["train.optimizer=rmsprop"], "allowed: one of: adam, sgd"),
        (["simulation.fraction_train=0"], "simulation.fraction_train=0"),
        (["lowres.upsample=maybe"], "lowres.upsample='maybe' is invalid; allowed: true or false"),
        (["+partition.alpah=1"], "partition.alpah is not a known config key"),
        (["nonexistent=1"], "Could not override 'nonexistent'"),
    ],
)
def test_bad_values_name_key_and_allowed(overrides, message):
    with pytest.raises(UserError) as err:
        validate(compose_config(overrides))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_defaults_are_valid_and_resolved():
    config = validate(compose_config([]))
    assert config["dataset"]["name"] == "faces" and config["num_rounds"] >= 1
    assert "${" not in str(config)


def test_launcher_rejects_bad_sweep_value_before_any_job(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "from fedkd.launcher import main; main()", "-m", "seed=0,1",
         "partition.alpha=0.5,-2", f"output.root={tmp_path}/out"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: partition.alpha=-2 is invalid; allowed: a number > 0"
    assert not (tmp_path / "out").exists()


def test_config_cli_get_and_error():
    ok = subprocess.run([sys.executable, "-m", "fedkd.config.cli", "--get", "simulation.num_clients",
                         "simulation.num_clients=7"], capture_output=True, text=True, timeout=60)
    assert ok.stdout.strip() == "7"
    bad = subprocess.run([sys.executable, "-m", "fedkd.config.cli", "--get", "nope.key"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "is not a config key" in bad.stderr
