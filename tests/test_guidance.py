"""Classifier-free guidance (Ho & Salimans, arXiv 2207.12598): label dropout trains a null class, and the
guided sampler draws from p(x|y)^(1+w) / p(x)^w, checked on Gaussians whose guided law is known in closed form;
the null class keeps per-sample gradients exact under Opacus' hooks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import check_hook_gradients
from torch import nn

from private_gen.energy_net import EnergyNet
from private_gen.noise_levels import geometric_sigmas
from private_gen.objectives import NULL_LABEL, ScoreObjective, draw_batch
from private_gen.samplers import HMCSettings
from private_gen.sampling import sample_score_model
from private_gen.score_net import ScoreNet


def test_label_dropout_nulls_its_share_of_rows_and_leaves_every_other_draw_as_it_was():
    x, y = torch.rand(20000, 1, 4, 4), torch.randint(10, (20000,))
    plain = draw_batch(x, y, 5, ScoreObjective(kind="dsm"), torch.Generator().manual_seed(1))
    dropped = draw_batch(x, y, 5, ScoreObjective(kind="dsm", label_dropout=0.3), torch.Generator().manual_seed(1))
    nulled = dropped.label == NULL_LABEL
    assert nulled.float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert torch.equal(dropped.label[~nulled], y[~nulled]) and torch.equal(plain.label, y)
    assert torch.equal(plain.level, dropped.level) and torch.equal(plain.noise, dropped.noise)


def test_the_null_class_is_one_more_embedding_row_that_label_minus_one_selects():
    torch.manual_seed(0)
    net = ScoreNet(1, geometric_sigmas(1.0, 0.1, 3), width=8, num_classes=2, groups=4, null_class=True)
    assert net.class_embedding.num_embeddings == 3
    x, level = torch.rand(2, 1, 8, 8), torch.tensor([0, 2])
    null = torch.full((2,), NULL_LABEL)
    torch.testing.assert_close(net(x, level, null), net(x, level, torch.tensor([2, 2])))
    assert not torch.allclose(net(x, level, torch.tensor([0, 0])), net(x, level, torch.tensor([2, 2])))


def test_opacus_hooks_give_each_record_its_own_gradient_when_some_labels_are_dropped():
    gen = torch.Generator().manual_seed(4)
    objective = ScoreObjective(kind="dsm", label_dropout=0.5)
    batch = draw_batch(torch.rand(3, 1, 8, 8, generator=gen), torch.tensor([1, 0, 1]), 3, objective, gen)
    batch = dataclasses.replace(batch, label=torch.tensor([NULL_LABEL, 0, 1]))
    grads, _ = check_hook_gradients(
        lambda: ScoreNet(1, geometric_sigmas(1.0, 0.1, 3), width=8, num_classes=2, groups=4, null_class=True), batch, 1)
    assert grads["class_embedding.weight"][0, 2].abs().sum() > 0  # the dropped record trains the null row only
    assert grads["class_embedding.weight"][0, :2].abs().sum() == 0


class ClassGaussians(nn.Module):
    """u(x) = (x − μ_y)/s, so EnergyNet's energy is that of N(μ_y, s²); the null class has mean μ_∅."""

    def __init__(self, means: list[float], null_mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("sigmas", torch.ones(1))
        self.means, self.std = torch.tensor([*means, null_mean]), std
        self.num_classes, self.null_class = len(means), True

    def unscaled(self, x: torch.Tensor, level: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        mean = self.means[torch.where(label < 0, self.num_classes, label)]
        return (x - mean.view(-1, 1, 1, 1)) / self.std


@pytest.mark.parametrize("metropolis", [True, False])
def test_guided_sampling_of_class_gaussians_lands_on_the_closed_form_guided_mean(metropolis):
    """(1+w)·log N(μ_y, s²) − w·log N(μ_∅, s²) is log N((1+w)μ_y − wμ_∅, s²): with w = 1, μ = 0.4 / 0.6 and
    μ_∅ = 0.5 the classes move to 0.3 / 0.7, and the spread stays s."""
    model = EnergyNet(ClassGaussians([0.4, 0.6], 0.5, 0.05))  # type: ignore[arg-type]
    labels = torch.arange(2000) % 2
    settings = {"step_size": 0.015**2, "evals_per_level": 240, "denoise": False, "batch_size": 2000,
                "metropolis": metropolis}
    guided = sample_score_model(model, labels, (1, 2, 2), HMCSettings(**settings, guidance=1.0), seed=0)
    plain = sample_score_model(model, labels, (1, 2, 2), HMCSettings(**settings), seed=0)
    for k, (unguided_mean, guided_mean) in enumerate([(0.4, 0.3), (0.6, 0.7)]):
        assert guided.samples[labels == k].mean().item() == pytest.approx(guided_mean, abs=0.01)
        assert plain.samples[labels == k].mean().item() == pytest.approx(unguided_mean, abs=0.01)
        assert guided.samples[labels == k].std().item() == pytest.approx(0.05, rel=0.1)
    assert guided.score_evaluations == 2 * plain.score_evaluations  # two network passes per guided evaluation
    assert bool(guided.acceptance) is metropolis


def test_guidance_on_a_model_without_a_null_class_is_refused():
    net = ScoreNet(1, geometric_sigmas(1.0, 0.1, 3), width=8, num_classes=2, groups=4)
    with pytest.raises(ValueError, match="label_dropout"):
        sample_score_model(net, torch.zeros(2, dtype=torch.long), (1, 8, 8), HMCSettings(guidance=1.0), seed=0)
