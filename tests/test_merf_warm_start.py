"""The private warm start (`pretrain=dp_merf`): the noise search after an earlier release, the composed ε of
the release and the DP-SGD steps against Google's dp-accounting, pretraining on the release's samples, and the
config errors."""

from __future__ import annotations

from pathlib import Path

import dp_accounting as dpa
import pytest
import torch
from dp_accounting.rdp import rdp_privacy_accountant

from fedkd.data.embedded import DigitsSettings
from fedkd.errors import UserError
from fedkd.privacy.accounting import epsilon, epsilon_of, noise_for_target
from private_gen.config import load_generation
from private_gen.dp_merf import DPMERFSettings, MerfTrainSettings
from private_gen.pretraining import MerfWarmStart, Pretraining
from private_gen.privacy.dp_sgd import GenDPSettings
from private_gen.privacy.settings import NoGenPrivacy
from private_gen.report import privacy_line
from private_gen.score_model import train_score_model
from tests.test_pretraining import tiny_data, tiny_model


def tiny_warm_start(share: float = 0.5) -> MerfWarmStart:
    merf = DPMERFSettings(num_features=64, hidden=[16], train=MerfTrainSettings(steps=3, batch_size=20, progress=False))
    return MerfWarmStart(epsilon_share=share, count=40, epochs=1, batch_size=16, merf=merf)


def rdp_reference(history: list[tuple[float, float, int]], delta: float) -> float:
    reference = rdp_privacy_accountant.RdpAccountant()
    for sigma, q, steps in history:
        event = dpa.GaussianDpEvent(sigma)
        reference.compose(event if q == 1 else dpa.PoissonSampledDpEvent(q, event), steps)
    return reference.get_epsilon(delta)


def test_prv_composes_a_whole_set_release_with_subsampled_steps_like_dp_accounting_pld():
    """q = 1 takes a branch of Opacus' PRV code that logs log(1 − q) = −inf (its warning is silenced): the value
    is still right."""
    from dp_accounting.pld import pld_privacy_accountant

    history = [(0.9, 1.0, 1), (1.05, 0.064, 200)]
    reference = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    reference.compose(dpa.GaussianDpEvent(0.9), 1)
    reference.compose(dpa.PoissonSampledDpEvent(0.064, dpa.GaussianDpEvent(1.05)), 200)
    assert epsilon_of(history, 1e-5, "prv") == pytest.approx(reference.get_epsilon(1e-5), rel=0.01)
    single = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    single.compose(dpa.GaussianDpEvent(0.9), 1)
    assert epsilon(0.9, 1.0, 1, 1e-5, "prv") == pytest.approx(single.get_epsilon(1e-5), rel=0.01)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_noise_search_after_a_release_lands_just_under_the_target(accountant):
    release = ((3.0, 1.0, 1),)
    sigma = noise_for_target(4.0, 1e-5, 0.02, 500, accountant, release)
    composed = epsilon_of([*release, (sigma, 0.02, 500)], 1e-5, accountant)
    assert 3.99 <= composed <= 4.0
    assert epsilon_of([*release, (sigma * 0.97, 0.02, 500)], 1e-5, accountant) > 4.0
    assert sigma > noise_for_target(4.0, 1e-5, 0.02, 500, accountant)  # less budget left: more noise
    with pytest.raises(ValueError, match="spend"):
        noise_for_target(0.5, 1e-5, 0.02, 500, accountant, release)


def test_the_reported_epsilon_composes_the_release_and_every_dp_sgd_step(tmp_path: Path):
    """RDP accountant: the run's ε equals dp-accounting's for one Gaussian release plus the Poisson-subsampled
    steps, the release alone spends the share, and the whole stays within the target."""
    privacy = GenDPSettings(target_epsilon=20.0, delta=1e-5, accountant="rdp")
    settings = tiny_warm_start(share=0.4)
    _, history, record = train_score_model(tiny_model(), privacy, tiny_data(), 10, 0,
                                           Pretraining(settings, DigitsSettings(), tmp_path))
    release = record["warm_start_release"]
    assert release["epsilon"] == pytest.approx(8.0, abs=0.05)
    steps = 2 * 3  # 2 epochs of ceil(48 / 16) Poisson steps
    assert record["steps"] == steps
    composed = [(release["noise_multiplier"], 1.0, 1), (record["noise_multiplier"], record["sample_rate"], steps)]
    assert record["epsilon"] == pytest.approx(rdp_reference(composed, 1e-5), rel=0.01)
    assert 19.9 <= record["epsilon"] <= 20.0
    alone = epsilon(record["noise_multiplier"], record["sample_rate"], steps, 1e-5, "rdp")
    assert alone < record["epsilon"] - 1  # the DP-SGD part alone would report too little
    assert [r["stage"] for r in history].count("pretrain") == 1
    assert all("epsilon" not in r for r in history if r["stage"] == "pretrain")
    line = privacy_line(record)
    assert "DP-MERF release, then DP-SGD" in line and "cumulative over the DP-MERF release" in line
    assert "40 samples of DP-MERF fitted to the private data" in line and "40% of the target ε" in line


def test_the_warm_start_trains_on_merf_samples_and_moves_the_starting_point(tmp_path: Path):
    settings = tiny_model()
    settings.train.epochs = 1
    warm = Pretraining(tiny_warm_start(), DigitsSettings(), tmp_path)
    model, history, record = train_score_model(settings, NoGenPrivacy(), tiny_data(), 10, 0, warm)
    again, _, _ = train_score_model(settings, NoGenPrivacy(), tiny_data(), 10, 0, warm)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)  # deterministic from the run's seed
    assert record["warm_start_release"]["guarantee"] == "none (non-private)" and record["epsilon"] is None
    assert history[0]["stage"] == "pretrain"
    other, _, _ = train_score_model(settings, NoGenPrivacy(), tiny_data(), 10, 1, warm)
    assert not torch.allclose(other.state_dict()["inp.weight"], model.state_dict()["inp.weight"])


@pytest.mark.parametrize(("overrides", "message"), [
    (["gen_privacy=projection_perturbation", "generator.objective.kind=ssm_vr"],
     "pretrain='dp_merf' is invalid; allowed: none, glyphs, procedural_faces or checkpoint"),
    (["data.class_conditional=false"], "data.class_conditional=False is invalid; allowed: true with pretrain=dp_merf"),
    (["pretrain.epsilon_share=1"], "pretrain.epsilon_share=1"),
])
def test_warm_start_config_errors_name_the_value_and_the_fix(overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_generation(["dataset=digits", "pretrain=dp_merf", *overrides])
