"""Differential privacy in federated training: per-sample clipping before noise, per-sample gradients of
the distillation objective, the client's cumulative accountant, the noise search, budget enforcement,
client-level accounting, and the runs end to end."""

from __future__ import annotations

import json
import math

import dp_accounting as dpa
import pytest
import torch
from flwr.app import RecordDict
from helpers import check_clipping_at_noise, run_tiny
from torch import nn

from fedkd.app.experiment_config import load_federated
from fedkd.distill import build_kd_loss
from fedkd.distill.outputs import Outputs
from fedkd.errors import UserError
from fedkd.methods.base import frozen
from fedkd.methods.fedckd import distillation_objective
from fedkd.models.small_cnn import SmallCNN
from fedkd.privacy.accounting import epsilon
from fedkd.privacy.sample_level import ClientBudget, PrivateTraining, SampleDPSettings
from fedkd.state.client_state import ClientState
from fedkd.training.local import TrainSettings, batch_mean, train_local

TRAIN = TrainSettings(local_epochs=1, batch_size=8, optimizer="sgd", lr=0.05, momentum=0.0, weight_decay=0.0)
TINY = ["dataset=digits", "lowres=none", "partition=iid", "simulation.num_clients=4", "simulation.backend=inprocess",
        "train.local_epochs=1", "strategy=fedckd"]


def settings(target: float | None = 4.0, sigma: float | None = None, planned: int = 3, mode: str = "hooks",
             bound: float = 1.0) -> SampleDPSettings:
    return SampleDPSettings(target_epsilon=target, noise_multiplier=sigma, delta=1e-5, max_grad_norm=bound,
                            accountant="rdp", grad_sample_mode=mode, planned_participations=planned)


def client_budget(s: SampleDPSettings, state: ClientState, n: int, batch: int, epochs: int) -> ClientBudget:
    return ClientBudget(s, s.planned_participations, state, n, batch, epochs)


def problem(n: int = 32) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return SmallCNN(1, 3, width=4, embedding_dim=8, norm_groups=2, pool_size=2), torch.rand(n, 1, 8, 8), \
        torch.randint(0, 3, (n,))


def teachers_objective() -> object:
    teacher = frozen(SmallCNN(1, 3, width=4, embedding_dim=8, norm_groups=2, pool_size=2))
    return distillation_objective({"global": (1.0, teacher)}, build_kd_loss("logits", 2.0))


def participate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, budget: ClientBudget, seed: int) -> int:
    private = PrivateTraining(budget, seed)
    train_local(model, x, y, TRAIN, seed, teachers_objective(), private=private)
    return private.steps_this_round


def test_every_per_sample_gradient_is_clipped_before_noise(monkeypatch):
    """At each noise addition the summed gradient is Σ_i min(1, C/‖g_i‖)·g_i and each term has norm ≤ C."""
    bound = 0.05
    checked = check_clipping_at_noise(monkeypatch, bound)
    model, x, y = problem()
    budget = client_budget(settings(target=None, sigma=1.0, bound=bound), ClientState(RecordDict()), len(y), 8, 1)
    steps = participate(model, x, y, budget, seed=0)
    assert len(checked) == steps == 4 and sum(checked) > 0  # every step checked; some gradients were clipped


def feature_terms(student: Outputs, y: torch.Tensor, rows: torch.Tensor) -> dict:
    """A workload term on the student's embedding (as the face-distillation terms are)."""
    return {"feature": ((student.embedding - torch.linspace(-1, 1, 8)) ** 2).sum(1).mean()}


@pytest.mark.parametrize("mode", ["hooks", "functorch"])
@pytest.mark.parametrize("extra", [None, feature_terms])
def test_per_sample_gradients_of_the_distillation_objective_match_autograd(mode, extra):
    """Opacus' per-sample gradients of CE + KD from a frozen teacher (+ a workload term on the embedding)
    equal each sample's own gradient: the objective couples no samples (GroupNorm, batch-mean reduction)."""
    model, x, y = problem(5)
    objective = teachers_objective()

    def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        outputs, terms = objective(model, xb, yb)
        if extra is not None:
            terms |= extra(outputs, yb, torch.arange(len(yb)))
        return torch.stack([batch_mean(v) for v in terms.values()]).sum()

    budget = client_budget(settings(target=None, sigma=1.0, mode=mode), ClientState(RecordDict()), 5, 5, 1)
    expected = []
    for i in range(5):
        model.zero_grad()
        loss(x[i:i + 1], y[i:i + 1]).backward()
        expected.append([p.grad.clone() for p in model.parameters()])
    with PrivateTraining(budget, 0).attach(model, torch.optim.SGD(model.parameters(), lr=0.1), False) as step:
        step.optimizer.zero_grad()
        loss(x, y).backward()
        for k, p in enumerate(model.parameters()):
            torch.testing.assert_close(p.grad_sample, torch.stack([e[k] for e in expected]), rtol=1e-4, atol=1e-6)


def test_cumulative_epsilon_after_k_participations_is_the_accountants_for_k_times_the_steps():
    model, x, y = problem()
    state = ClientState(RecordDict())
    seen = []
    for k in range(1, 4):
        budget = client_budget(settings(target=None, sigma=1.2), state, len(y), 8, 1)  # a new round, the same state
        steps = participate(model, x, y, budget, seed=k)
        assert steps == 4
        assert budget.epsilon() == pytest.approx(epsilon(1.2, 0.25, 4 * k, 1e-5, "rdp"))
        seen.append(budget.epsilon())
    assert seen[0] < seen[1] < seen[2]


def test_the_accountant_survives_a_state_checkpoint(tmp_path):
    model, x, y = problem()
    state = ClientState(RecordDict())
    budget = client_budget(settings(target=None, sigma=1.2), state, len(y), 8, 1)
    participate(model, x, y, budget, seed=0)
    state.save(tmp_path / "state.npz")
    restored = client_budget(settings(target=None, sigma=1.2), ClientState.load(tmp_path / "state.npz"), len(y), 8, 1)
    assert restored.steps == 4 and restored.epsilon() == pytest.approx(budget.epsilon())


@pytest.mark.parametrize(("target", "accountant"), [(1.0, "rdp"), (4.0, "prv"), (8.0, "rdp")])
def test_the_noise_search_reaches_the_target_within_tolerance(target, accountant):
    s = SampleDPSettings(target_epsilon=target, delta=1e-5, accountant=accountant, planned_participations=5)
    budget = client_budget(s, ClientState(RecordDict()), 100, 10, 2)  # q = 0.1, 5 × 2 × 10 = 100 planned steps
    assert budget.record["planned_steps"] == 100
    spent = epsilon(budget.noise_multiplier, 0.1, 100, 1e-5, accountant)
    assert target - 0.01 <= spent <= target


def test_a_client_never_trains_past_its_budget_and_then_refuses():
    model, x, y = problem()
    s = settings(target=2.0, sigma=1.0)
    state = ClientState(RecordDict())
    total = 0
    for seed in range(50):
        budget = client_budget(s, state, len(y), 8, 1)
        if budget.exhausted():
            break
        total += participate(model, x, y, budget, seed)
    else:
        pytest.fail("the budget never ran out")
    assert budget.steps == total
    assert budget.epsilon() <= 2.0 < budget.epsilon(extra_steps=1)
    before = [p.clone() for p in model.parameters()]
    assert participate(model, x, y, budget, seed=99) == 0  # no step left: training does nothing
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_dp_models_have_no_batchnorm():
    config = load_federated([*TINY, "privacy=sample"])
    model = config.new_model((1, 8, 10))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert sum(isinstance(m, nn.GroupNorm) for m in model.modules()) == 4


@pytest.mark.parametrize(("override", "message"), [
    (["privacy=sample", "privacy.target_epsilon=null"], "privacy.noise_multiplier=None is invalid"),
    (["privacy=sample", "strategy=fedavg_ft"], "strategy='fedavg_ft' is invalid"),
    (["privacy=sample", "privacy.accountant=gdp"], "privacy.accountant='gdp' is invalid; allowed: one of: rdp, prv"),
    (["privacy=sample", "privacy.noise_multiplier=0.1"], "privacy.noise_multiplier=0.1 is invalid; allowed: at least"),
    (["privacy=client", "strategy=fedper"], "strategy='fedper' is invalid"),
    (["privacy=client", "privacy.clipping=adaptive"], "privacy.noise_multiplier=1 is invalid; allowed: below 2"),
    (["privacy=client", "privacy.side=both"], "privacy.side='both' is invalid"),
])
def test_bad_privacy_settings_are_refused(override, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_federated([*TINY, *override])


def _run(tmp_path, *overrides: str) -> tuple[list[dict], list[dict], dict]:
    rounds, clients, path = run_tiny(tmp_path, [*TINY, *overrides])
    return rounds, clients, json.loads((path / "privacy.json").read_text())


def test_sample_level_run_spends_each_budget_then_refuses(tmp_path):
    """σ planned for one participation: every client spends its budget in round 1 and refuses after."""
    rounds, clients, privacy = _run(tmp_path, "num_rounds=3", "privacy=sample", "privacy.target_epsilon=3",
                                    "privacy.planned_participations=1")
    assert [r["clients_refused"] for r in rounds] == ["0", "4", "4"]
    assert [r["clients_exhausted"] for r in rounds] == ["4", "4", "4"]
    assert rounds[1]["global_accuracy"] == rounds[2]["global_accuracy"]  # nothing aggregated: the model stands
    trained = [c for c in clients if c["phase"] == "train"]
    assert all(float(c["dp_epsilon"]) <= 3.0 for c in trained)
    assert {c["dp_steps"] for c in trained if c["dp_refused"] == "1"} == {"0"}
    assert privacy["mode"] == "sample" and privacy["delta"] == 1e-5 and privacy["accountant"] == "prv"
    assert 2.9 <= privacy["epsilon"] <= 3.0 and sorted(privacy["clients_exhausted"]) == [0, 1, 2, 3]


@pytest.mark.parametrize("wrapper", [["privacy.side=server", "privacy.clipping=fixed"],
                                     ["privacy.side=client", "privacy.clipping=fixed"],
                                     ["privacy.side=server", "privacy.clipping=adaptive",
                                      "privacy.clipped_count_stddev=2"],
                                     ["privacy.side=client", "privacy.clipping=adaptive",
                                      "privacy.clipped_count_stddev=2"]])
def test_client_level_run_reports_the_accountants_epsilon_every_round(tmp_path, wrapper):
    rounds, _, privacy = _run(tmp_path, "num_rounds=2", "privacy=client", "privacy.noise_multiplier=1.5", *wrapper)
    reference = dpa.rdp.RdpAccountant()
    for r in rounds:
        reference.compose(dpa.GaussianDpEvent(1.5))  # every client trains each round: no amplification
        assert float(r["client_epsilon"]) == pytest.approx(reference.get_epsilon(1e-5), rel=1e-6)
    assert privacy["epsilon"] == pytest.approx(float(rounds[-1]["client_epsilon"]))
    assert privacy["rounds"] == 2 and privacy["delta"] == 1e-5
    if "privacy.clipping=adaptive" in wrapper:  # the (server's or clients') norm bits moved the clipping norm
        assert not math.isclose(float(rounds[1]["clipping_norm"]), 1.0)


def test_client_level_accounting_with_sampled_clients(tmp_path):
    """Flower samples 2 of 4 clients without replacement: the accountant uses that sampling model."""
    rounds, _, privacy = _run(tmp_path, "num_rounds=2", "simulation.fraction_train=0.5", "privacy=client",
                              "privacy.noise_multiplier=1.5")
    reference = dpa.rdp.RdpAccountant(neighboring_relation=dpa.NeighboringRelation.REPLACE_ONE)
    for r in rounds:
        assert r["clients_trained"] == "2"
        reference.compose(dpa.SampledWithoutReplacementDpEvent(4, 2, dpa.GaussianDpEvent(1.5)))
        assert float(r["client_epsilon"]) == pytest.approx(reference.get_epsilon(1e-5), rel=1e-6)
    assert privacy["clients_per_round"] == 2 and "without-replacement" in privacy["accountant"]


def test_a_round_with_refused_and_training_clients_averages_over_those_that_trained():
    """A client whose budget is spent replies without training metrics; the round row (and the run) go on
    with the others' (this mix stopped the server with a KeyError before)."""
    from fedkd.results.round_metrics import round_row

    trained = {"num-examples": 30, "train_loss": 1.0, "train_accuracy": 0.5, "participations": 2}
    refused = {"num-examples": 10, "dp_refused": 1, "participations": 3}
    other = {"num-examples": 10, "train_loss": 2.0, "train_accuracy": 0.9, "participations": 1}
    row = round_row([trained, refused, other], [])
    assert row["clients_trained"] == 3
    assert row["train_loss"] == pytest.approx((30 * 1.0 + 10 * 2.0) / 40)
    assert row["train_accuracy"] == pytest.approx((30 * 0.5 + 10 * 0.9) / 40)
