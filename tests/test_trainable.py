"""Parameter-efficient private fine-tuning (`generator.train.trainable`): which weights train, and that the
others stay exactly as pretrained under DP-SGD (both per-sample gradient paths) and non-private training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from private_gen.noise_levels import geometric_sigmas
from private_gen.objectives import ScoreObjective
from private_gen.privacy import dp_sgd
from private_gen.score_net import ConditionedBlock, ScoreNet
from private_gen.trainable import select_trainable
from private_gen.training import ScoreTrainSettings, train_score


def net() -> ScoreNet:
    torch.manual_seed(0)
    return ScoreNet(1, geometric_sigmas(1.0, 0.1, 3), width=8, num_classes=2, groups=4)


def trained_names(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_the_subsets_nest_and_leave_every_convolution_kernel_frozen():
    model = net()
    every = {name for name, _ in model.named_parameters()}
    counts = {t: select_trainable(model, t) for t in ("conditioning", "norms_biases_conditioning", "all")}
    assert counts["all"] == (sum(p.numel() for p in model.parameters()),) * 2
    select_trainable(model, "conditioning")
    conditioning = trained_names(model)
    select_trainable(model, "norms_biases_conditioning")
    norms = trained_names(model)
    assert conditioning < norms < every
    assert counts["conditioning"][0] < counts["norms_biases_conditioning"][0] < counts["all"][0] / 5
    convs = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert convs and not convs & norms
    assert {"level_embedding.weight", "class_embedding.weight"} <= conditioning
    blocks = [n for n, m in model.named_modules() if isinstance(m, ConditionedBlock)]
    assert {f"{b}.cond.weight" for b in blocks} <= conditioning
    assert all(n.endswith("bias") or ".norm" in n or n.startswith("out_norm") for n in norms - conditioning)


@pytest.mark.parametrize("kind", ["dsm", "ssm_vr"])  # Opacus' hooks and the torch.func path
def test_dp_sgd_changes_only_the_trained_weights(kind):
    model = net()
    select_trainable(model, "norms_biases_conditioning")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x, y = torch.rand(48, 1, 8, 8), torch.randint(2, (48,))
    train = ScoreTrainSettings(epochs=1, batch_size=16, lr=1e-2, ema_decay=0.0, progress=False)
    objective = ScoreObjective(kind=kind, num_projections=1, projection="gaussian")
    privacy = dp_sgd.GenDPSettings(target_epsilon=50.0, delta=1e-5, accountant="rdp", noise_multiplier=1.0)
    ema, _, report = dp_sgd.train_score_dp_sgd(model, x, y, train, objective, privacy, seed=0)
    assert report.steps == 3
    after = dict(ema.named_parameters())
    for name, p in before.items():
        changed = not torch.equal(after[name], p)
        assert changed == (name in trained_names(model)), name


def test_non_private_training_changes_only_the_trained_weights():
    model = net()
    select_trainable(model, "conditioning")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x, y = torch.rand(32, 1, 8, 8), torch.randint(2, (32,))
    train = ScoreTrainSettings(epochs=1, batch_size=16, lr=1e-2, ema_decay=0.0, progress=False)
    ema, _ = train_score(model, x, y, train, ScoreObjective(kind="dsm"), seed=0)
    frozen = {n for n in before if n not in trained_names(model)}
    assert frozen and all(torch.equal(dict(ema.named_parameters())[n], before[n]) for n in frozen)
    assert not torch.equal(ema.level_embedding.weight, before["level_embedding.weight"])
