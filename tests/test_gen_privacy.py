"""Privacy of the generators: accountant ε against Google's dp-accounting, the noise search, DP-SGD
clipping every per-sample gradient before noise, training stopping at the budget, the DP-MERF release,
and the projection-perturbation hook."""

from __future__ import annotations

import dp_accounting as dpa
import pytest
import torch
from helpers import check_clipping_at_noise

from fedkd.errors import UserError
from fedkd.privacy.accounting import epsilon, noise_for_target, steps_within_budget
from private_gen.dp_merf import FourierFeatures, class_embedding, release_embedding
from private_gen.noise_levels import geometric_sigmas
from private_gen.objectives import ScoreObjective
from private_gen.privacy import dp_sgd
from private_gen.privacy.projection_perturbation import ProjectionPerturbation, gradient_noise
from private_gen.privacy.settings import NoGenPrivacy
from private_gen.report import privacy_line
from private_gen.score_net import ScoreNet
from private_gen.sliced_score import ProjectionStats
from private_gen.training import ScoreTrainSettings, train_score

CASES = [(0.01, 1.1, 1000), (0.05, 1.0, 1000), (0.2, 2.0, 300), (1.0, 5.0, 1)]


@pytest.mark.parametrize(("q", "sigma", "steps"), CASES)
def test_rdp_epsilon_matches_dp_accounting_within_one_percent(q, sigma, steps):
    from dp_accounting.rdp import rdp_privacy_accountant

    reference = rdp_privacy_accountant.RdpAccountant()
    reference.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), steps)
    ours = epsilon(sigma, q, steps, 1e-5, "rdp")
    assert ours == pytest.approx(reference.get_epsilon(1e-5), rel=0.01)


@pytest.mark.parametrize(("q", "sigma", "steps"), CASES[:3])
def test_prv_epsilon_matches_dp_accounting_pld_within_one_percent(q, sigma, steps):
    from dp_accounting.pld import pld_privacy_accountant

    reference = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    reference.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), steps)
    ours = epsilon(sigma, q, steps, 1e-5, "prv")
    assert ours == pytest.approx(reference.get_epsilon(1e-5), rel=0.01)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_noise_search_lands_just_under_the_target(accountant):
    sigma = noise_for_target(4.0, 1e-5, 0.02, 500, accountant)
    assert 3.95 <= epsilon(sigma, 0.02, 500, 1e-5, accountant) <= 4.0
    assert epsilon(sigma * 0.97, 0.02, 500, 1e-5, accountant) > 4.0


def test_steps_within_budget_is_the_last_step_under_the_target():
    steps = steps_within_budget(1.0, 0.01, 2.0, 1e-5, "rdp", max_steps=100_000)
    assert 0 < steps < 100_000
    assert epsilon(1.0, 0.01, steps, 1e-5, "rdp") <= 2.0 < epsilon(1.0, 0.01, steps + 1, 1e-5, "rdp")
    assert steps_within_budget(1.0, 0.01, 2.0, 1e-5, "rdp", max_steps=5) == 5


def tiny_problem(n: int = 48) -> tuple[ScoreNet, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = ScoreNet(1, geometric_sigmas(1.0, 0.1, 3), width=8, num_classes=2, groups=4)
    return net, torch.rand(n, 1, 8, 8), torch.randint(2, (n,))


def settings(epochs: int, multiplicity: int = 1, kind: str = "ssm_vr") -> tuple[ScoreTrainSettings, ScoreObjective]:
    return (ScoreTrainSettings(epochs=epochs, batch_size=16, lr=1e-3, ema_decay=0.9, progress=False),
            ScoreObjective(kind=kind, num_projections=1, projection="gaussian", noise_multiplicity=multiplicity))


def dp(target: float, sigma: float | None, bound: float = 1.0, accountant: str = "rdp") -> dp_sgd.GenDPSettings:
    return dp_sgd.GenDPSettings(target_epsilon=target, delta=1e-5, accountant=accountant, noise_multiplier=sigma,
                                max_grad_norm=bound)


def test_every_per_sample_gradient_is_clipped_before_noise(monkeypatch):
    """At each noise addition, the summed gradient equals Σ_i min(1, C/‖g_i‖)·g_i of the per-sample
    gradients handed to Opacus, and each clipped term has norm ≤ C."""
    bound = 0.05
    checked = check_clipping_at_noise(monkeypatch, bound)
    net, x, y = tiny_problem()
    privacy = dp(50.0, 1.0, bound, "rdp")
    _, _, report = dp_sgd.train_score_dp_sgd(net, x, y, *settings(1, multiplicity=2), privacy, seed=0)
    assert len(checked) == report.steps == 3 and sum(checked) > 0  # some gradients were actually clipped


def test_training_stops_at_the_target_epsilon():
    net, x, y = tiny_problem()
    privacy = dp(3.0, 2.0, 1.0, "rdp")
    _, history, report = dp_sgd.train_score_dp_sgd(net, x, y, *settings(epochs=200), privacy, seed=0)
    q = 1 / 3  # Opacus' Poisson rate: 1 / ceil(48 / 16)
    assert report.sample_rate == pytest.approx(q)
    assert report.stopped_by_budget and report.steps < report.planned_steps == 600
    assert report.steps == steps_within_budget(2.0, q, 3.0, 1e-5, "rdp", 600) > 0
    assert report.epsilon <= 3.0 < epsilon(2.0, q, report.steps + 1, 1e-5, "rdp")
    assert report.epsilon == pytest.approx(epsilon(2.0, q, report.steps, 1e-5, "rdp"))
    assert history[-1]["epsilon"] == pytest.approx(report.epsilon)


def test_a_budget_spent_by_the_first_step_is_refused():
    net, x, y = tiny_problem()
    privacy = dp(0.5, 0.5, 1.0, "rdp")
    with pytest.raises(UserError, match=r"gen_privacy\.noise_multiplier=0\.5 spends"):
        dp_sgd.train_score_dp_sgd(net, x, y, *settings(epochs=1), privacy, seed=0)


def test_noise_found_for_target_is_spent_over_the_planned_steps():
    net, x, y = tiny_problem()
    privacy = dp(8.0, None, 1.0, "prv")
    _, _, report = dp_sgd.train_score_dp_sgd(net, x, y, *settings(epochs=2), privacy, seed=0)
    assert report.steps == report.planned_steps == 6 and not report.stopped_by_budget
    assert 7.9 <= report.epsilon <= 8.0


def test_fourier_features_have_unit_norm_so_one_record_moves_the_sum_by_one():
    phi = FourierFeatures(16, 200, 2.0, torch.Generator().manual_seed(0))
    x, y = torch.rand(30, 16), torch.randint(3, (30,))
    torch.testing.assert_close(phi(x).norm(dim=1), torch.ones(30))
    full, without_last = class_embedding(phi(x), y, 3), class_embedding(phi(x[:-1]), y[:-1], 3)
    assert (full - without_last).norm().item() == pytest.approx(1.0, rel=1e-5)


def test_dp_merf_release_calibrates_noise_to_the_target():
    phi = FourierFeatures(16, 200, 2.0, torch.Generator().manual_seed(0))
    x, y = torch.rand(500, 1, 4, 4), torch.randint(3, (500,))
    privacy = dp(1.0, None)
    clean, _ = release_embedding(phi, x, y, 3, NoGenPrivacy(), torch.Generator().manual_seed(1))
    noisy, record = release_embedding(phi, x, y, 3, privacy, torch.Generator().manual_seed(1))
    assert 0.99 <= record["epsilon"] <= 1.0 and record["delta"] == 1e-5 and record["accountant"] == "rdp"
    residual = (noisy - clean) * 500 / record["noise_multiplier"]
    assert residual.std().item() == pytest.approx(1.0, rel=0.05)


def test_projection_perturbation_clips_each_statistic_and_adds_scaled_noise():
    stats = ProjectionStats(torch.tensor([100.0, 0.5]), torch.tensor([[-50.0], [0.2]]), torch.tensor([[3.0], [-9.0]]))
    clipped = ProjectionPerturbation(clip=1.0, noise_multiplier=0.0)(stats)
    assert clipped.half_sq_norm.tolist() == [1.0, 0.5]
    assert clipped.projected.flatten().tolist() == pytest.approx([-1.0, 0.2])
    assert clipped.curvature.flatten().tolist() == [1.0, -1.0]
    big = ProjectionStats(torch.zeros(20000), torch.zeros(20000, 1), torch.zeros(20000, 1))
    noisy = ProjectionPerturbation(clip=2.0, noise_multiplier=0.5)(big)
    assert noisy.projected.std().item() == pytest.approx(1.0, rel=0.05)


def projection_trained(kind: str, perturb: ProjectionPerturbation | None) -> list[torch.Tensor]:
    net, x, y = tiny_problem(32)
    train, objective = settings(2, kind=kind)
    trained, _ = train_score(net, x, y, train, objective, seed=3, perturb=perturb)
    return [p.detach().clone() for p in trained.parameters()]


def test_projection_noise_never_reaches_the_ssm_vr_gradient_but_reaches_plain_ssm():
    # clipping that never binds: SSM-VR's loss is linear in the statistics, so any noise trains exactly the
    # model that no mechanism trains; plain SSM squares the noisy projection, so there the noise matters
    plain = projection_trained("ssm_vr", None)
    for noise in (1.0, 50.0):
        perturbed = projection_trained("ssm_vr", ProjectionPerturbation(clip=1e9, noise_multiplier=noise))
        assert all(torch.equal(a, b) for a, b in zip(plain, perturbed, strict=True))
    squared = projection_trained("ssm", None)
    noised = projection_trained("ssm", ProjectionPerturbation(clip=1e9, noise_multiplier=1e-6))
    assert not all(torch.equal(a, b) for a, b in zip(squared, noised, strict=True))
    assert gradient_noise("ssm_vr").startswith("none") and gradient_noise("ssm").startswith("through")


def test_projection_perturbation_counts_what_its_clipping_cuts():
    hook = ProjectionPerturbation(clip=1.0, noise_multiplier=0.0)
    hook(ProjectionStats(torch.tensor([2.0, 0.5]), torch.tensor([[-3.0], [0.2]]), torch.tensor([[0.1], [0.2]])))
    hook(ProjectionStats(torch.tensor([0.1, 0.5]), torch.tensor([[0.0], [0.2]]), torch.tensor([[5.0], [-5.0]])))
    assert hook.clipped_fraction() == {"half_sq_norm": 0.25, "projected": 0.25, "curvature": 0.5}


def test_projection_privacy_line_says_where_its_noise_acts_and_what_it_clipped():
    record = {"mechanism": "projection perturbation", "guarantee": "not a formal DP guarantee",
              "clipped_fraction": {"half_sq_norm": 0.0, "projected": 0.0, "curvature": 0.61}}
    inert = privacy_line(record | {"gradient_noise": gradient_noise("ssm_vr")})
    assert "never reaches the SSM-VR gradient" in inert and inert.endswith("clipped curvature 61.0%")
    assert "never reaches" not in privacy_line(record | {"gradient_noise": gradient_noise("ssm")})
