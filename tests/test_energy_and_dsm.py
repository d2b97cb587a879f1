"""The energy parameterisation, denoising score matching and the Metropolis-corrected sampler: the energy's
negative gradient is the score every objective sees, the SSM curvature of an energy is its Hessian, DSM
against its closed-form value, per-sample gradients (torch.func and Opacus hooks) against autograd on each
sample alone, and Metropolis HMC on a Gaussian whose energy is known."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import check_hook_gradients, check_per_record_gradients
from torch import nn

from private_gen.energy_net import EnergyNet
from private_gen.noise_levels import geometric_sigmas
from private_gen.objectives import ScoreObjective, annealed_loss, draw_batch
from private_gen.per_sample_grads import per_sample_grads
from private_gen.privacy.dp_sgd import uses_opacus_hooks
from private_gen.samplers import HMCSettings
from private_gen.sampling import sample_score_model
from private_gen.score_net import ScoreNet


def tiny_energy(num_classes: int = 2) -> EnergyNet:
    torch.manual_seed(0)
    return EnergyNet(ScoreNet(1, geometric_sigmas(1.0, 0.1, 3), width=8, num_classes=num_classes, groups=4))


def test_the_energy_models_score_is_minus_the_autograd_gradient_of_its_energy():
    model = tiny_energy()
    x, level, label = torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 2]), torch.tensor([1, 0, 1])
    z = x.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(model.energy(z, level, label).sum(), z)
    torch.testing.assert_close(model(x, level, label), -gradient)
    with torch.no_grad():  # the sampler calls it under no_grad
        torch.testing.assert_close(model(x, level, label), -gradient)


def test_ssm_curvature_of_an_energy_model_is_minus_its_hessian_quadratic_form():
    model = tiny_energy()
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 1, 8, 8, generator=gen), torch.tensor([0, 1])
    objective = ScoreObjective(kind="ssm", num_projections=2, projection="gaussian")
    batch = draw_batch(x, y, len(model.sigmas), objective, gen)
    ours = annealed_loss(model, model.sigmas, batch, "ssm")
    for i in range(2):
        sigma = model.sigmas[batch.level[i]]
        noisy = (batch.x[i] + sigma * batch.noise[i]).flatten()

        def energy(z: torch.Tensor, i: int = i) -> torch.Tensor:
            return model.energy(z.view(1, 1, 8, 8), batch.level[i:i + 1], batch.label[i:i + 1]).sum()

        hessian = torch.autograd.functional.hessian(energy, noisy, vectorize=True)
        score = -torch.autograd.functional.jacobian(energy, noisy)
        v = batch.v[i].flatten(1)
        curvature = -torch.einsum("md,de,me->m", v, hessian, v).mean()
        expected = sigma**2 * (curvature + 0.5 * (v @ score).pow(2).mean())
        torch.testing.assert_close(ours[i], expected, rtol=1e-4, atol=1e-5)


def test_dsm_loss_of_the_exact_score_matches_its_closed_form():
    """Data N(μ, s²I), x̃ = x + σz: at the true score −(x̃ − μ)/(s² + σ²), E[½‖σs + z‖²] = ½·d·s²/(s² + σ²);
    any other scale of the score costs more."""
    torch.manual_seed(0)
    mu, s, d, n = 0.3, 0.5, 16, 200_000
    sigmas = torch.tensor([1.0, 0.2])
    x = mu + s * torch.randn(n, 1, 4, 4)
    objective = ScoreObjective(kind="dsm")
    batch = draw_batch(x, torch.zeros(n, dtype=torch.long), 2, objective, torch.Generator().manual_seed(0))

    def score(scale: float):
        return lambda z, level, label: -scale * (z - mu) / (s**2 + sigmas[level].view(-1, 1, 1, 1) ** 2)

    losses = annealed_loss(score(1.0), sigmas, batch, "dsm")
    for level, sigma in enumerate(sigmas.tolist()):
        rows = batch.level == level
        assert losses[rows].mean().item() == pytest.approx(0.5 * d * s**2 / (s**2 + sigma**2), rel=0.01)
    for wrong in (0.7, 1.3):
        assert annealed_loss(score(wrong), sigmas, batch, "dsm").mean() > losses.mean()


@pytest.mark.parametrize("energy", [False, True])
def test_per_sample_gradients_of_dsm_equal_autograd_on_each_sample_alone(energy):
    torch.manual_seed(0)
    net = ScoreNet(1, geometric_sigmas(1.0, 0.1, 3), width=8, num_classes=2, groups=4)
    model = EnergyNet(net) if energy else net
    objective = ScoreObjective(kind="dsm", noise_multiplicity=2)
    gen = torch.Generator().manual_seed(3)
    batch = draw_batch(torch.rand(3, 1, 8, 8, generator=gen), torch.tensor([0, 1, 1]), 3, objective, gen)
    assert uses_opacus_hooks(model, objective) is not energy
    grads, losses = per_sample_grads(model, batch, "dsm", 2)
    check_per_record_gradients(model, batch, "dsm", 2, grads, losses)


@pytest.mark.parametrize(("scales", "size"), [(2, 8), (3, 7)])
def test_opacus_hooks_give_each_record_its_own_dsm_gradient(scales, size):
    """Also for a three-scale U-Net on an odd size, whose skips are upsampled from 4 to 7 pixels."""
    objective = ScoreObjective(kind="dsm", noise_multiplicity=2)
    gen = torch.Generator().manual_seed(4)
    batch = draw_batch(torch.rand(3, 1, size, size, generator=gen), torch.tensor([1, 0, 1]), 3, objective, gen)
    _, losses = check_hook_gradients(
        lambda: ScoreNet(1, geometric_sigmas(1.0, 0.1, 3), width=8, num_classes=2, groups=4, scales=scales), batch, 2)
    assert losses.shape == (3,)


class GaussianEnergy(nn.Module):
    """u(x) = (x − μ)/s: EnergyNet's ½‖u‖² is then the energy of N(μ, s²) at every level."""

    def __init__(self, mu: torch.Tensor, std: torch.Tensor, levels: int) -> None:
        super().__init__()
        self.register_buffer("sigmas", torch.ones(levels))
        self.mu, self.std, self.num_classes = mu, std, 0

    def unscaled(self, x: torch.Tensor, level: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return (x - self.mu) / self.std


def raw_hmc(step: float, metropolis: bool, evals: int = 301
            ) -> tuple[torch.Tensor, list[float], torch.Tensor, torch.Tensor]:
    from private_gen.samplers.hamiltonian import annealed_hamiltonian

    mu, std = torch.tensor([0.5, -1.0, 2.0, 0.0]), torch.tensor([1.0, 0.5, 2.0, 1.0])
    model = EnergyNet(GaussianEnergy(mu, std, levels=1))  # type: ignore[arg-type]
    lv = torch.zeros(4000, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    result = annealed_hamiltonian(lambda x, level: model(x, lv), torch.randn(4000, 4, generator=gen),
                                  torch.ones(1), step, evals, 3, 1.0, 0.0,
                                  (lambda x, level: -model.energy(x, lv)) if metropolis else None, gen, False)
    return result.samples, result.acceptance, mu, std


def test_metropolis_hmc_on_a_known_gaussian_accepts_small_steps_and_recovers_its_moments():
    samples, acceptance, mu, std = raw_hmc(step=0.15**2, metropolis=True, evals=601)
    assert acceptance[0] > 0.98
    torch.testing.assert_close(samples.mean(0), mu, atol=0.1, rtol=0)
    torch.testing.assert_close(samples.std(0), std, atol=0.0, rtol=0.06)


def test_metropolis_removes_the_leapfrog_bias_of_large_steps():
    """Step 0.9 on the narrowest direction (s = 0.5: 1.8·s, near leapfrog's stability limit 2s): uncorrected
    dynamics inflate its variance; the corrected chain keeps it, at a visibly lower acceptance."""
    step = 0.9**2
    biased, _, _, std = raw_hmc(step, metropolis=False)
    corrected, acceptance, _, _ = raw_hmc(step, metropolis=True)
    assert biased.std(0)[1] > 1.3 * std[1]
    assert corrected.std(0)[1] == pytest.approx(std[1].item(), rel=0.08)
    assert acceptance[0] < 0.9


def test_sampling_an_energy_model_reports_its_acceptance_and_a_score_model_none():
    energy = tiny_energy(num_classes=0)
    sampler = HMCSettings(evals_per_level=7, leapfrog_steps=3, batch_size=3)
    result = sample_score_model(energy, torch.zeros(5, dtype=torch.long), (1, 8, 8), sampler, seed=0)
    assert len(result.acceptance) == 3 and all(0 <= a <= 1 for a in result.acceptance)
    plain = sample_score_model(energy, torch.zeros(5, dtype=torch.long), (1, 8, 8),
                               HMCSettings(evals_per_level=7, leapfrog_steps=3, metropolis=False), seed=0)
    assert plain.acceptance == []
    assert not math.isnan(float(plain.samples.sum()))
