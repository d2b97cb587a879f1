"""Public pretraining: the glyph generator is deterministic from its seed and made without any private
record, pretraining steps are never counted by the accountant while every fine-tuning step is, pretrained
weights are cached, a checkpoint must fit, and the privacy statement names the public data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fedkd.data.embedded import DigitsSettings, load_digits
from fedkd.errors import UserError
from fedkd.privacy.accounting import epsilon
from private_gen.data import GenerationData
from private_gen.pretraining import CheckpointPretrain, GlyphPretrain, NoPretrain, Pretraining, pretrained_state
from private_gen.privacy.dp_sgd import GenDPSettings
from private_gen.privacy.settings import NoGenPrivacy
from private_gen.public.glyphs import GlyphSettings, _elastic, render_glyphs
from private_gen.report import privacy_line
from private_gen.score_model import ScoreModelSettings, train_score_model


def test_glyphs_are_deterministic_from_their_seed_and_balanced():
    settings = GlyphSettings(count=200)
    a, labels = render_glyphs(settings, 8, seed=1)
    b, same_labels = render_glyphs(settings, 8, seed=1)
    c, _ = render_glyphs(settings, 8, seed=2)
    assert torch.equal(a, b) and torch.equal(labels, same_labels) and not torch.equal(a, c)
    assert a.shape == (200, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    assert torch.bincount(labels).tolist() == [20] * 10


def test_elastic_distortion_moves_pixels_by_the_rms_it_draws_and_is_off_by_default():
    """On coordinate ramps (bilinear sampling is exact on them) the warp's displacement is measurable: its RMS per
    image is drawn from [0, elastic_shift] of the side, so it averages half of it."""
    side, shift = 64, 0.05
    ramp = torch.arange(side, dtype=torch.float32)
    coords = torch.stack([ramp.expand(side, side), ramp[:, None].expand(side, side), torch.ones(side, side)])
    warped = _elastic(coords[None].repeat(300, 1, 1, 1), GlyphSettings(elastic_shift=shift),
                      torch.Generator().manual_seed(0))
    inside = (warped[:, 2:] > 1 - 1e-5).float()  # sampled wholly from inside the frame (zero padding elsewhere)
    moved = (warped[:, :2] - coords[:2]).square() * inside
    rms = (moved.sum((1, 2, 3)) / (2 * inside.sum((1, 2, 3)))).sqrt() / side
    assert rms.max() <= 1.1 * shift and rms.mean() == pytest.approx(shift / 2, rel=0.1)
    plain, _ = render_glyphs(GlyphSettings(count=40), 28, seed=3)
    bent, _ = render_glyphs(GlyphSettings(count=40, elastic_shift=shift), 28, seed=3)
    assert GlyphSettings().elastic_shift == 0 and not torch.allclose(plain, bent)


def test_glyphs_are_made_without_private_data_and_differ_from_every_private_image():
    """Nothing but the font files goes in (the generator takes no data); and no glyph is a copy of a digit."""
    glyphs, _ = render_glyphs(GlyphSettings(count=300), 8, seed=0)
    digits = load_digits()
    private = torch.from_numpy(digits.images).permute(0, 3, 1, 2).float() / 255
    nearest = torch.cdist(glyphs.flatten(1), private.flatten(1)).min(1).values
    assert nearest.min() > 0.5  # pixel L2 on [0, 1]; two renderings of the same digit image would be ~0


def tiny_model() -> ScoreModelSettings:
    settings = ScoreModelSettings()
    settings.network.width, settings.noise.num_levels = 8, 3
    settings.train.epochs, settings.train.batch_size, settings.train.progress = 2, 16, False
    return settings


def tiny_data() -> GenerationData:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 8, 8, generator=gen), torch.arange(48) % 10
    return GenerationData(x, y, x[:10], y[:10], 10, "digits")


def glyph_pretraining(tmp_path: Path) -> Pretraining:
    return Pretraining(GlyphPretrain(epochs=2, glyphs=GlyphSettings(count=64)), DigitsSettings(), tmp_path)


def test_the_accountant_counts_every_fine_tuning_step_and_no_pretraining_step(tmp_path):
    privacy = GenDPSettings(target_epsilon=50.0, delta=1e-5, accountant="rdp", noise_multiplier=1.0)
    _, history, record = train_score_model(tiny_model(), privacy, tiny_data(), 10, 0, glyph_pretraining(tmp_path))
    pretrain_rows = [r for r in history if r["stage"] == "pretrain"]
    private_rows = [r for r in history if r["stage"] == "private"]
    assert len(pretrain_rows) == 2 and all("epsilon" not in r for r in pretrain_rows)
    # 2 fine-tuning epochs of ceil(48 / 16) Poisson steps; pretraining ran 2 × 1 more (64 glyphs, batch 128)
    steps = 2 * 3
    assert record["steps"] == steps == private_rows[-1]["step"]
    assert record["epsilon"] == pytest.approx(epsilon(1.0, 1 / 3, steps, 1e-5, "rdp"))
    assert "public synthetic data: 64 digit glyphs" in record["pretraining"]
    assert "64 digit glyphs" in privacy_line(record) and "ε=" in privacy_line(record)


def test_pretrained_weights_are_cached_and_change_the_starting_point(tmp_path):
    settings = tiny_model()
    settings.train.epochs = 1
    pretraining = glyph_pretraining(tmp_path)
    first, history, _ = train_score_model(settings, NoGenPrivacy(), tiny_data(), 10, 0, pretraining)
    again, cached_history, _ = train_score_model(settings, NoGenPrivacy(), tiny_data(), 10, 0, pretraining)
    assert any(r["stage"] == "pretrain" for r in history)
    assert not any(r["stage"] == "pretrain" for r in cached_history)  # read from the cache, not retrained
    assert len(list((tmp_path / "pretrain").glob("*.npz"))) == 1
    for (name, a), b in zip(first.state_dict().items(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    scratch, _, record = train_score_model(settings, NoGenPrivacy(), tiny_data(), 10, 0,
                                           Pretraining(NoPretrain(), DigitsSettings(), tmp_path))
    assert record["pretraining"] is None
    assert not torch.allclose(scratch.state_dict()["inp.weight"], first.state_dict()["inp.weight"])


def test_a_checkpoint_is_loaded_when_it_fits_and_refused_in_one_line_when_not(tmp_path):
    settings = tiny_model()
    model = settings.build((1, 8, 8), 10)
    torch.save(model.state_dict(), tmp_path / "generator.pt")
    settings.train.epochs = 1
    given = Pretraining(CheckpointPretrain(path=str(tmp_path / "generator.pt")), DigitsSettings(), tmp_path)
    state, history = pretrained_state(given, lambda: settings.build((1, 8, 8), 10), (1, 8, 8), 10, settings.train,
                                      settings.objective, {})
    assert history == [] and all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    _, _, record = train_score_model(settings, NoGenPrivacy(), tiny_data(), 10, 0, given)
    assert "initialised from checkpoint" in record["pretraining"]
    wider = tiny_model()
    wider.network.width = 16
    with pytest.raises(UserError, match=r"pretrain.path=.* does not fit generator settings"):
        train_score_model(wider, NoGenPrivacy(), tiny_data(), 10, 0,
                          Pretraining(CheckpointPretrain(path=str(tmp_path / "generator.pt")), DigitsSettings(),
                                      tmp_path))
    with pytest.raises(UserError, match="is not a file"):
        train_score_model(settings, NoGenPrivacy(), tiny_data(), 10, 0,
                          Pretraining(CheckpointPretrain(path=str(tmp_path / "missing.pt")), DigitsSettings(),
                                      tmp_path))


def test_device_cuda_is_refused_in_one_line_where_no_cuda_device_is_visible(monkeypatch):
    from private_gen.config import load_generation

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"device='cuda' is invalid; allowed: auto or cpu \(no CUDA device"):
        load_generation(["dataset=digits", "device=cuda"])
    assert load_generation(["dataset=digits"]).device == "auto"


def test_fine_tuning_part_of_the_pretrained_model_keeps_the_rest_and_records_it(tmp_path):
    settings = tiny_model()
    settings.train.trainable = "conditioning"
    privacy = GenDPSettings(target_epsilon=50.0, delta=1e-5, accountant="rdp", noise_multiplier=1.0)
    pretraining = glyph_pretraining(tmp_path)
    model, _, record = train_score_model(settings, privacy, tiny_data(), 10, 0, pretraining)
    pretrained, _ = pretrained_state(pretraining, lambda: settings.build((1, 8, 8), 10), (1, 8, 8), 10,
                                     settings.train, settings.objective, {})
    assert record["trained_weights"]["trainable"] == "conditioning"
    assert 0 < record["trained_weights"]["trained"] < record["trained_weights"]["total"] / 10
    assert torch.equal(model.inp.weight, pretrained["inp.weight"])
    assert not torch.equal(model.level_embedding.weight, pretrained["level_embedding.weight"])
    weights = record["trained_weights"]
    assert f"fine-tuned {weights['trained']:,} of {weights['total']:,} weights (conditioning)" in privacy_line(record)
