"""Pretraining the score model on public data before it sees a private record (`pretrain=<name>`): digit
glyphs rendered from matplotlib's fonts, procedural faces of public identities, or a checkpoint the user
gives. It is the recipe of the DP diffusion models that lead DPImageBench (PDP-Diffusion, Ghalebikesabi et
al. 2023; DP-LDM, Lyu et al. 2023; PrivImage, Li et al. 2024): pretrain on public data, fine-tune under DP.

Pretraining is non-private training on data that contains no private record, so it costs no privacy: the
accountant sees only the fine-tuning steps, and every run's privacy record says which public data the
model was pretrained on. Pretrained weights are cached under `data_cache/pretrain/`, keyed by everything
that shapes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import MISSING
from torch import nn

from fedkd.config.fields import NOT_EMPTY, above, at_least, below, setting
from fedkd.config.registry import Registry
from fedkd.data.cache import cache_key, load_or_build
from fedkd.data.dataset_settings import DatasetSettings
from fedkd.data.synthetic_faces import FaceSpec
from fedkd.errors import UserError
from fedkd.paths import expand
from private_gen.dp_merf import DPMERFSettings
from private_gen.objectives import ScoreObjective
from private_gen.public.faces import public_face_spec, render_public_faces
from private_gen.public.glyphs import GlyphSettings, render_glyphs
from private_gen.training import ScoreTrainSettings, train_score

DIGIT_SETS = ("digits", "mnist_subset", "mnist")  # data sets whose class k is the digit k


@dataclass
class PretrainSettings:
    name: str = MISSING


@dataclass
class NoPretrain(PretrainSettings):
    """`pretrain=none`: the score model starts from random weights."""

    name: str = "none"


@dataclass
class TrainedPretrain(PretrainSettings):
    """What every pretraining that trains the score model shares: its epochs, batch size and learning rate (EMA
    decay and objective are the generator's own), the same whatever the private training that follows."""

    epochs: int = setting(10, at_least(1))
    batch_size: int = setting(128, at_least(1))
    lr: float = setting(0.002, above(0))


@dataclass
class PublicPretrain(TrainedPretrain):
    """Pretraining on data the project generates without any private record."""

    seed: int = setting(0, at_least(0), help="seed of the public data and of the pretraining run")


@dataclass
class GlyphPretrain(PublicPretrain):
    """`pretrain=glyphs`: digit glyphs from matplotlib's fonts (digit data sets: class k is the digit k)."""

    name: str = "glyphs"
    glyphs: GlyphSettings = field(default_factory=GlyphSettings)


@dataclass
class FacePretrain(PublicPretrain):
    """`pretrain=procedural_faces`: the project's procedural faces with public identities (face sets; their
    labels say nothing about private identities, so a class-conditional model sees random ones)."""

    name: str = "procedural_faces"
    num_identities: int = setting(200, at_least(2))
    images_per_identity: int = setting(20, at_least(1))


@dataclass
class CheckpointPretrain(PretrainSettings):
    """`pretrain=checkpoint`: start from a score model's weights (a run's generator.pt) with the same network
    settings. Whoever supplies it vouches that it saw no private record: ε does not cover what it learnt."""

    name: str = "checkpoint"
    path: str = setting(MISSING, NOT_EMPTY, help="a generator.pt of a run with the same generator settings")


@dataclass
class MerfWarmStart(TrainedPretrain):
    """`pretrain=dp_merf`: a private warm start. DP-MERF (Harder et al., AISTATS 2021) releases the private set's
    noisy mean embedding with `epsilon_share` of the run's target ε; the score model pretrains on `count` of its
    samples (post-processing), then DP-SGD fine-tunes on the private records with what is left, so ε covers both
    (one accountant, two compositions). The easy-then-hard recipe of DP-FETA (Li, Gong et al., "From Easy to
    Hard: Building a Shortcut for Differentially Private Image Synthesis", IEEE S&P 2025), with DP-MERF's
    samples as the easy stage. Not public data: it spends privacy, and needs gen_privacy=dp to be private."""

    name: str = "dp_merf"
    epsilon_share: float = setting(0.5, above(0), below(1), help="share of gen_privacy.target_epsilon the DP-MERF "
                                   "release spends on its own; DP-SGD gets the rest of the composed budget")
    count: int = setting(20000, at_least(10), help="DP-MERF samples the score model pretrains on (balanced)")
    merf: DPMERFSettings = field(default_factory=DPMERFSettings)


PRETRAIN: Registry[PretrainSettings] = Registry("pretrain")
PRETRAIN.add("none", NoPretrain())
PRETRAIN.add("glyphs", GlyphPretrain())
PRETRAIN.add("procedural_faces", FacePretrain())
PRETRAIN.add("checkpoint", CheckpointPretrain())
PRETRAIN.add("dp_merf", MerfWarmStart())


def description(pretrain: PretrainSettings) -> str | None:
    """What the model was pretrained on, for every output that states its privacy; None without pretraining."""
    if isinstance(pretrain, GlyphPretrain):
        elastic = (f", elastic distortion up to {pretrain.glyphs.elastic_shift:g} of the side"
                   if pretrain.glyphs.elastic_shift > 0 else "")
        return (f"pretrained on public synthetic data: {pretrain.glyphs.count} digit glyphs from "
                f"{len(pretrain.glyphs.fonts)} matplotlib fonts{elastic}, {pretrain.epochs} epochs (no private "
                "record; not covered by ε, costs none)")
    if isinstance(pretrain, FacePretrain):
        return (f"pretrained on public synthetic data: {pretrain.num_identities}×{pretrain.images_per_identity} "
                f"procedural faces of public identities, {pretrain.epochs} epochs (no private record; not covered "
                "by ε, costs none)")
    if isinstance(pretrain, MerfWarmStart):
        return (f"pretrained on {pretrain.count} samples of DP-MERF fitted to the private data, {pretrain.epochs} "
                f"epochs (private warm start: its release, {pretrain.epsilon_share:.0%} of the target ε alone, is "
                "inside the run's ε)")
    if isinstance(pretrain, CheckpointPretrain):
        return f"initialised from checkpoint {pretrain.path} (not covered by ε; its data are the user's to vouch for)"
    return None


def public_data(pretrain: PublicPretrain, dataset: DatasetSettings, shape: tuple[int, int, int], num_classes: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The public images at the private set's shape and the labels a model with `num_classes` classes sees."""
    channels, side = shape[0], shape[-1]
    if isinstance(pretrain, GlyphPretrain):
        x, y = render_glyphs(pretrain.glyphs, side, pretrain.seed)
        return x.expand(-1, channels, -1, -1).contiguous(), y
    if isinstance(pretrain, FacePretrain):
        if not isinstance(dataset, FaceSpec):
            raise UserError(f"pretrain=procedural_faces needs dataset=faces, not dataset={dataset.name}")
        spec = public_face_spec(dataset, pretrain.num_identities, pretrain.images_per_identity)
        x = render_public_faces(spec, side, channels)
        labels = torch.randint(max(num_classes, 1), (len(x),), generator=torch.Generator().manual_seed(pretrain.seed))
        return x, labels
    raise TypeError(f"no public data for pretrain={pretrain.name}")


@dataclass(frozen=True)
class Pretraining:
    """What a generator's training needs to pretrain: the option, the private set's settings (face pretraining
    draws public identities in its style) and the cache folder."""

    settings: PretrainSettings
    dataset: DatasetSettings
    cache_dir: Path


def pretrain_model(x: torch.Tensor, y: torch.Tensor, pretrain: TrainedPretrain, build: Callable[[], nn.Module],
                   train: ScoreTrainSettings, objective: ScoreObjective, seed: int, stage: str
                   ) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Non-private training of a fresh model on (x, y) with the pretraining's schedule: its EMA weights as arrays
    (what the cache keeps) and its history rows, marked `stage: pretrain`. `stage` names its epoch checkpoints."""
    settings = dataclasses.replace(train, epochs=pretrain.epochs, batch_size=pretrain.batch_size, lr=pretrain.lr)
    torch.manual_seed(seed)
    model = build()
    device = next(model.parameters()).device
    model, rows = train_score(model, x.to(device), y.to(device), settings, objective, seed, stage=stage)
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return arrays, [{"stage": "pretrain"} | row for row in rows]


def pretrained_state(pretraining: Pretraining, build: Callable[[], nn.Module], shape: tuple[int, int, int],
                     num_classes: int, train: ScoreTrainSettings, objective: ScoreObjective, fingerprint: dict[str, Any]
                     ) -> tuple[dict[str, torch.Tensor] | None, list[dict[str, Any]]]:
    """The weights to start from (None for `none`) and the pretraining history (empty when cached or given).

    `build()` makes a fresh model of the generator's settings on the training device; `fingerprint` is
    everything about them that shapes the weights (network, noise, objective, parameterisation), part of the
    cache key.
    """
    pretrain, dataset = pretraining.settings, pretraining.dataset
    if isinstance(pretrain, NoPretrain):
        return None, []
    if isinstance(pretrain, CheckpointPretrain):
        path = Path(expand(pretrain.path))
        if not path.is_file():
            raise UserError(f"pretrain.path={pretrain.path!r} is not a file; give a run's generator.pt")
        state = torch.load(path, weights_only=True, map_location="cpu")
        try:
            build().load_state_dict(state)
        except RuntimeError as error:
            raise UserError(f"pretrain.path={pretrain.path!r} does not fit generator settings of this run "
                            f"({str(error).splitlines()[0]}); use the same generator.network and noise") from None
        return state, []
    assert isinstance(pretrain, PublicPretrain)
    history: list[dict[str, Any]] = []

    def run() -> dict[str, np.ndarray]:
        x, y = public_data(pretrain, dataset, shape, num_classes)
        arrays, rows = pretrain_model(x, y, pretrain, build, train, objective, pretrain.seed, "pretraining")
        history.extend(rows)
        return arrays

    params = {"pretrain": dataclasses.asdict(pretrain), "shape": list(shape), "classes": num_classes,
              "ema_decay": train.ema_decay, "model": fingerprint}
    if isinstance(pretrain, FacePretrain):
        params["faces"] = dataclasses.asdict(dataset)
    arrays = load_or_build(pretraining.cache_dir / "pretrain" / cache_key(pretrain.name, params), run)
    return {k: torch.from_numpy(v) for k, v in arrays.items()}, history
