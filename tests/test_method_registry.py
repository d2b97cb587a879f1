"""A new FL method is its own code plus one registry entry: it composes, runs, and its loss terms reach
clients.csv. Every method's search space (declared by its settings class) covers fields of its settings, inside
their rules."""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fedkd.app.experiment_config import load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.config.fields import at_least, rules_of, setting
from fedkd.config.search_space import Choice, Interval
from fedkd.distill import forward_outputs
from fedkd.methods.base import LocalMethod, MethodSettings, RoundInput, StateDict
from fedkd.methods.registry import METHODS, MethodEntry
from fedkd.training.local import TrainSettings


# --- the toy method: its own settings and client, nothing else -------------------------------------------------
@dataclass
class ToySettings(MethodSettings):
    """`strategy=toy`: FedAvg with an L2 penalty on the logits (a method nobody published)."""

    name: str = "toy"
    logit_penalty: float = setting(0.01, at_least(0))


class ToyClient(LocalMethod[ToySettings]):
    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        model = round_input.global_model()
        weight = self.settings.logit_penalty

        def objective(net: nn.Module, x: torch.Tensor, y: torch.Tensor):
            outputs = forward_outputs(net, x)
            return outputs, {"ce": F.cross_entropy(outputs.logits, y),
                             "logit_l2": weight * outputs.logits.pow(2).mean()}

        return model.state_dict(), round_input.train(model, self.train_settings, round_input.seed, objective)
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def toy_registered():
    METHODS.add("toy", MethodEntry(ToyClient, ToySettings(), loss_terms=("logit_l2",)))  # the one registry line
    yield
    METHODS.remove("toy")


def test_a_new_method_needs_its_own_code_and_one_registry_line(tmp_path, toy_registered):
    config = load_federated(["strategy=toy", "strategy.logit_penalty=0.5", "dataset=digits", "lowres=none",
                             "partition=iid", "num_rounds=2", "simulation.num_clients=3",
                             "simulation.backend=inprocess", "train.local_epochs=1"])
    assert isinstance(config.strategy, ToySettings) and config.strategy.logit_penalty == 0.5
    path = run_in_process(config, output_root=tmp_path)
    with open(path / "clients.csv") as fh:
        trained = [row for row in csv.DictReader(fh) if row["phase"] == "train"]
    assert len(trained) == 6 and all(float(row["loss_logit_l2"]) > 0 for row in trained)
    assert all(float(row["train_loss"]) == pytest.approx(float(row["loss_ce"]) + float(row["loss_logit_l2"]))
               for row in trained)


def test_a_toy_method_with_an_undeclared_loss_term_fails_loudly(tmp_path):
    """A term the entry does not declare would have no clients.csv column: the run refuses to drop it."""
    METHODS.add("toy", MethodEntry(ToyClient, ToySettings()))
    try:
        config = load_federated(["strategy=toy", "dataset=digits", "lowres=none", "partition=iid", "num_rounds=1",
                                 "simulation.num_clients=2", "simulation.backend=inprocess", "train.local_epochs=1"])
        with pytest.raises(RuntimeError, match=r"clients\.csv has no column for loss_logit_l2"):
            run_in_process(config, output_root=tmp_path)
    finally:
        METHODS.remove("toy")
    (failed,) = tmp_path.iterdir()
    assert failed.name.endswith(".failed") and "loss_logit_l2" in (failed / "error.txt").read_text()


@pytest.mark.parametrize("name", METHODS.names())
def test_searchable_hyper_parameters_are_settings_fields_within_their_rules(name):
    entry = METHODS[name]
    fields = {f.name: f for f in dataclasses.fields(entry.settings)}
    for key, space in entry.settings.search_space().items():
        assert key in fields, f"{name}: {key} is not a field of {type(entry.settings).__name__}"
        assert space.contains(getattr(entry.settings, key)), f"{name}: the default of {key} lies outside its space"
        ends = space.values if isinstance(space, Choice) else (space.low, space.high)
        for value in ends:
            assert all(rule.test(value) for rule in rules_of(fields[key])), (name, key, value)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_train_search_space_holds_the_default_learning_rate(optimizer):
    settings = TrainSettings(optimizer=optimizer, lr=0.001 if optimizer == "adam" else 0.01)
    (key, space), = settings.search_space().items()
    assert key == "lr" and space.contains(settings.lr) and space.log


def test_interval_grids_cover_their_ends():
    assert Interval(1e-3, 1e-1, log=True).grid(3) == pytest.approx([1e-3, 1e-2, 1e-1])
    assert Interval(1, 5, integer=True).grid(3) == [1, 3, 5]
    with pytest.raises(ValueError):
        Interval(0.0, 1.0, log=True)
