"""DP-SGD on a per-sample score-matching loss (Abadi et al., CCS 2016; as used for score models by Dockhorn
et al., "Differentially Private Diffusion Models", TMLR 2023) through Opacus.

Opacus wraps the model and data loader (Poisson sampling) and its optimizer clips each per-sample gradient to
`max_grad_norm`, adds N(0, σ²·max_grad_norm²) to the sum and accounts. Where the loss needs the network's input
derivatives (SSM, SSM-VR, and any energy model) Opacus runs in `no_op` mode and the per-sample gradients come
from torch.func (private_gen/per_sample_grads.py); DSM on a score network is an ordinary forward and backward,
so Opacus' own hooks compute them. With noise multiplicity K the K rows of one record are averaged into one
per-record gradient before clipping either way. The noise multiplier is either given or found for the target
(ε, δ) over the planned steps; training never takes a step that would push ε past the target.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from fedkd.audit.canary_gradients import CanaryGradients
from fedkd.checkpoint.training_checkpoint import stage_checkpoint
from fedkd.config.fields import above, below, one_of, setting
from fedkd.errors import UserError
from fedkd.privacy.accounting import ACCOUNTANTS, Composition, noise_for_target, spent, steps_within_budget
from private_gen.objectives import ScoreBatch, ScoreObjective, annealed_loss, draw_batch
from private_gen.per_sample_grads import per_sample_grads
from private_gen.privacy.settings import GenPrivacySettings
from private_gen.score_net import ScoreNet
from private_gen.training import ScoreTrainSettings, ema_of

SCOPE = "sample-level (add/remove one training image), cumulative over all training steps"


@dataclass
class GenDPSettings(GenPrivacySettings):
    """`gen_privacy=dp`: (ε, δ)-DP, sample-level: DP-SGD (Opacus, Poisson sampling) for the score model, the
    Gaussian mechanism on the released embedding for DP-MERF. Cumulative over all training steps."""

    name: str = "dp-eps${gen_privacy.target_epsilon}"
    mechanism: str = "dp"
    target_epsilon: float = setting(10.0, above(0))
    delta: float = setting(1.0e-5, above(0), below(1))
    accountant: str = setting("prv", one_of(ACCOUNTANTS))
    noise_multiplier: float | None = setting(None, above(0), help="null: the smallest σ reaching target_epsilon "
                                             "over the planned steps")
    max_grad_norm: float = setting(1.0, above(0), help="per-sample clipping bound (DP-SGD)")


@dataclass
class DPReport:
    """What a DP-SGD run spent: every ε comes with its δ, accountant and scope."""

    mechanism: str
    epsilon: float
    delta: float
    accountant: str
    target_epsilon: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    planned_steps: int
    stopped_by_budget: bool
    scope: str = SCOPE
    guarantee: str = "(ε, δ)-DP"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def uses_opacus_hooks(model: nn.Module, objective: ScoreObjective) -> bool:
    """DSM on a score network needs no input derivatives, so Opacus' per-sample hooks can compute its gradients."""
    return objective.kind == "dsm" and isinstance(model, ScoreNet)


def _hook_grads(module: nn.Module, sigmas: torch.Tensor, params: list[tuple[str, nn.Parameter]], batch: ScoreBatch,
                multiplicity: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Per-record gradients from Opacus' hooks: one backward of the row-mean loss (Opacus scales each row's
    gradient back to its own), then the K rows of a record averaged."""
    losses = annealed_loss(module, sigmas, batch, "dsm")
    with warnings.catch_warnings():  # the images need no gradient; Opacus' hooks only read the layers' outputs
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        losses.mean().backward()
    grads = {name: p.grad_sample.view(-1, multiplicity, *p.shape).mean(1) for name, p in params}
    return grads, losses.detach().view(-1, multiplicity).mean(1)


def _silence_noise(optimizer: Any) -> None:
    """Opacus adds N(0, (σC)²) in `add_noise` and accounts σ in the step hook that follows: σ is 0 for the first
    only, so the accountant still reports the configured ε (the broken control of the audit)."""
    add_noise = optimizer.add_noise

    def without_noise() -> None:
        sigma, optimizer.noise_multiplier = optimizer.noise_multiplier, 0.0
        add_noise()
        optimizer.noise_multiplier = sigma

    optimizer.add_noise = without_noise


def train_score_dp_sgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: ScoreTrainSettings,
                       objective: ScoreObjective, privacy: GenDPSettings, seed: int,
                       canaries: CanaryGradients | None = None, broken_no_noise: bool = False,
                       spent_before: tuple[Composition, ...] = ()
                       ) -> tuple[nn.Module, list[dict[str, float]], DPReport]:
    """Train with DP-SGD; returns the EMA network, one history row per epoch and the privacy report.
    `canaries` (an audit's included gradient canaries): each is sampled like a record at the Poisson rate and,
    when sampled, its clipped gradient joins the noisy sum (added after the noise, the same distribution).
    `broken_no_noise` (an audit's broken control) adds no noise while the accountant still counts σ.
    `spent_before`: compositions of the same records released before (a private warm start); the accountant
    starts from them, so σ is set for what is left of the target and the reported ε covers them too."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    accountant = privacy.accountant
    # Opacus' Poisson loader samples each record with rate 1/len(loader), the rate it accounts with.
    steps_per_epoch = math.ceil(len(x) / settings.batch_size)
    sample_rate = 1.0 / steps_per_epoch
    planned = settings.epochs * steps_per_epoch
    delta, target = privacy.delta, privacy.target_epsilon
    sigma = privacy.noise_multiplier
    if sigma is None:
        sigma = noise_for_target(target, delta, sample_rate, planned, accountant, spent_before)
    allowed = steps_within_budget(sigma, sample_rate, target, delta, accountant, planned, spent_before)
    if allowed == 0:
        raise UserError(f"gen_privacy.noise_multiplier={sigma} spends gen_privacy.target_epsilon={target} in one step; "
                        "raise the noise multiplier (or set it to null) or the target")

    ema = ema_of(model, settings.ema_decay)  # before Opacus attaches anything to the model
    hooks = uses_opacus_hooks(model, objective)
    engine = PrivacyEngine(accountant=accountant)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    x = x.to(memory_format=torch.contiguous_format)  # Opacus' conv per-sample gradients need it (image_data.py)
    loader = DataLoader(TensorDataset(x, y), batch_size=settings.batch_size)
    private_module, dp_optimizer, dp_loader = engine.make_private(
        module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=sigma,
        max_grad_norm=privacy.max_grad_norm, poisson_sampling=True, grad_sample_mode="hooks" if hooks else "no_op")
    engine.accountant.history = list(spent_before)
    if broken_no_noise:
        _silence_noise(dp_optimizer)
    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    k = objective.noise_multiplicity
    history, step, started = [], 0, time.perf_counter()
    checkpoint = stage_checkpoint("dp-sgd")
    parts = {"model": model, "optimizer": optimizer, "ema": ema, "noise_draws": gen, "accountant": engine.accountant}
    saved = checkpoint.resume(parts) if checkpoint else None
    if saved is not None:
        history, step = saved.history, saved.extra["step"]
        started -= history[-1]["seconds"] if history else 0.0
    bar = tqdm(total=allowed, initial=step, desc="DP-SGD score matching", disable=not settings.progress)
    while step < allowed:
        total, count = 0.0, 0
        for xb, yb in dp_loader:
            if step >= allowed:
                break
            if len(xb):
                batch = draw_batch(xb, yb, len(model.sigmas), objective, gen)
                grads, losses = (_hook_grads(private_module, model.sigmas, params, batch, k) if hooks else
                                 per_sample_grads(model, batch, objective.kind, k, settings.per_sample_chunk))
                total, count = total + losses.sum().item(), count + len(xb)
            else:
                grads = {name: torch.zeros((0, *p.shape), device=p.device) for name, p in params}
            for name, p in params:
                p.grad_sample = grads[name]
            if dp_optimizer.pre_step():  # clips, noises, scales by the expected batch size, accounts
                if canaries is not None:
                    canaries.add(dict(params), sample_rate, dp_optimizer.expected_batch_size)
                dp_optimizer.original_optimizer.step()
            dp_optimizer.zero_grad()
            ema.update_parameters(model)
            step += 1
            bar.update(1)
        history.append({"epoch": len(history) + 1, "step": step, "loss_not_private": total / max(count, 1),
                        "epsilon": spent(engine.accountant, delta), "seconds": time.perf_counter() - started})
        if checkpoint:
            checkpoint.end_of_epoch(len(history), math.ceil(allowed / steps_per_epoch), parts, history,
                                    {"step": step})
    bar.close()
    report = DPReport("DP-SGD (Opacus, Poisson sampling)", spent(engine.accountant, delta), delta, accountant, target,
                      sigma, privacy.max_grad_norm, sample_rate, step, planned, allowed < planned)
    return ema.module, history, report
