"""Sample-level differential privacy at the clients: DP-SGD (Abadi et al., "Deep Learning with
Differential Privacy", CCS 2016) through Opacus, with one accountant per client that lives in the
client's state across rounds.

Every local training call of a client (whatever the method: the update it sends, a personal model it
keeps) runs DP-SGD on its private training split: Poisson sampling at rate q = 1/ceil(n/B), per-sample
clipping to `max_grad_norm` (book-keeping, Opacus ghost clipping, hooks or functorch: `dp_step.py`), Gaussian
noise σ·C on the sum. The client's ε is cumulative over all its steps in all its participations (add/remove one
training record of that client), at δ `delta`, by the RDP or PRV accountant. σ is given, or found at the client's first
participation for the target ε over the planned participations; a client never takes a step that
would push its ε past the target, and a client with no step left refuses to train.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from flwr.app import ConfigRecord
from torch import nn

from fedkd.config.fields import Invalid, above, at_least, one_of, setting
from fedkd.privacy.accounting import ACCOUNTANTS, epsilon, noise_for_target, steps_within_budget
from fedkd.privacy.bookkeeping import BookkeepingStep
from fedkd.privacy.dp_step import GRAD_SAMPLE_MODES, DPStep, GhostStep, HookedStep, resolved_mode
from fedkd.privacy.settings import DPSettings
from fedkd.protocol.reply import DP_EPSILON, DP_NOISE_MULTIPLIER, DP_SAMPLE_RATE, DP_TOTAL_STEPS
from fedkd.state.client_state import ClientState

STATE_KEY = "fedkd.privacy"
PRV_MIN_NOISE, PRV_MAX_EPSILON = 0.2, 100.0  # Opacus' PRV accountant fails below / stalls above these
SCOPE = ("sample-level (add/remove one training record of a client), cumulative over all of that client's "
         "local steps in all rounds; covers the model updates and any model trained on the record, "
         "not the loss/accuracy metrics clients report")


@dataclass
class SampleDPSettings(DPSettings):
    """`privacy=sample`: DP-SGD at every client. ε is per client, cumulative over all of its participations."""

    mode: str = "sample"
    name: str = "dp-eps${privacy.target_epsilon}"
    target_epsilon: float | None = setting(8.0, above(0), help="each client's budget; null: no budget (then "
                                           "noise_multiplier must be set)")
    noise_multiplier: float | None = setting(None, above(0), help="null: found at the first participation for "
                                             "target_epsilon over the planned steps")
    max_grad_norm: float = setting(1.0, above(0), help="per-sample gradient clipping bound C")
    accountant: str = setting("prv", one_of(ACCOUNTANTS), help="Opacus accountant")
    grad_sample_mode: str = setting("auto", one_of(GRAD_SAMPLE_MODES), help="per-sample clipping: bookkeeping "
                                    "(one backward, fedkd's own), ghost (Opacus ghost clipping), hooks or functorch "
                                    "(Opacus per-sample gradients); auto: bookkeeping where the objective's terms are "
                                    "per-sample and every layer is supported, else hooks")
    planned_participations: int | None = setting(None, at_least(1), help="null: ceil(num_rounds x "
                                                 "simulation.fraction_train)")

    def check(self) -> None:
        if self.target_epsilon is None and self.noise_multiplier is None:
            raise Invalid("noise_multiplier", None, "a number > 0 when privacy.target_epsilon is null (set one of "
                          "the two)")
        if self.accountant == "prv":  # Opacus' PRV fails or stalls for ε in the hundreds
            if (self.noise_multiplier or 1.0) < PRV_MIN_NOISE:
                raise Invalid("noise_multiplier", self.noise_multiplier,
                              f"at least {PRV_MIN_NOISE} with privacy.accountant=prv (use rdp for less noise)")
            if (self.target_epsilon or 0.0) > PRV_MAX_EPSILON:
                raise Invalid("target_epsilon", self.target_epsilon,
                              f"at most {PRV_MAX_EPSILON} with privacy.accountant=prv (use rdp beyond)")

    def planned(self, num_rounds: int, fraction_train: float) -> int:
        """The participations each client's noise is planned for."""
        return self.planned_participations or math.ceil(num_rounds * fraction_train)


class ClientBudget:
    """One client's privacy accountant, kept in its state: σ, q and the steps taken so far.

    All of a client's DP-SGD steps share one (σ, q), so its accountant history is the single
    composition (σ, q, total steps), and ε after k participations is ε(σ, q, k·steps).
    """

    def __init__(self, settings: SampleDPSettings, planned_participations: int, state: ClientState,
                 num_examples: int, batch_size: int, epochs_per_participation: int) -> None:
        self.settings = settings
        self.num_examples = num_examples
        self.steps_per_epoch = math.ceil(num_examples / batch_size)
        self.sample_rate = 1.0 / self.steps_per_epoch  # Opacus' Poisson rate for a loader of this length
        self.expected_batch_size = max(1, round(num_examples * self.sample_rate))
        if STATE_KEY not in state.record.config_records:
            planned = planned_participations * epochs_per_participation * self.steps_per_epoch
            sigma = settings.noise_multiplier
            if sigma is None:
                sigma = noise_for_target(settings.target_epsilon, settings.delta, self.sample_rate, planned,
                                         settings.accountant)
            state.record[STATE_KEY] = ConfigRecord({"noise_multiplier": float(sigma), "steps": 0,
                                                    "planned_steps": planned})
        self.record = state.record.config_records[STATE_KEY]

    @property
    def noise_multiplier(self) -> float:
        return float(self.record["noise_multiplier"])

    @property
    def steps(self) -> int:
        return int(self.record["steps"])

    def epsilon(self, extra_steps: int = 0) -> float:
        """Cumulative ε after the steps taken (plus `extra_steps`)."""
        return epsilon(self.noise_multiplier, self.sample_rate, self.steps + extra_steps, self.settings.delta,
                       self.settings.accountant)

    def allowed_steps(self, requested: int) -> int:
        """How many of `requested` further steps keep ε within the target (all of them without a target)."""
        if self.settings.target_epsilon is None:
            return requested
        return steps_within_budget(self.noise_multiplier, self.sample_rate, self.settings.target_epsilon,
                                   self.settings.delta, self.settings.accountant, requested,
                                   history=[(self.noise_multiplier, self.sample_rate, self.steps)])

    def exhausted(self) -> bool:
        return self.allowed_steps(1) == 0

    def record_steps(self, steps: int) -> None:
        self.record["steps"] = self.steps + steps

    def metrics(self) -> dict[str, float]:
        return {DP_EPSILON: self.epsilon(), DP_NOISE_MULTIPLIER: self.noise_multiplier,
                DP_TOTAL_STEPS: self.steps, DP_SAMPLE_RATE: self.sample_rate}

    def describe(self) -> str:
        target = self.settings.target_epsilon
        of = f" of {target:g}" if target is not None else ""
        return (f"ε={self.epsilon():.3f}{of} at δ={self.settings.delta:g} ({self.settings.accountant.upper()}, "
                f"{self.steps} steps, σ={self.noise_multiplier:.3f})")


class PrivateTraining:
    """DP-SGD for the local training calls of one participation; charges every step to `budget`."""

    def __init__(self, budget: ClientBudget, seed: int, broken_no_noise: bool = False) -> None:
        self.budget = budget
        self.seed = seed
        self.broken_no_noise = broken_no_noise  # an audit's broken control: σ = 0 while ε is still claimed
        self.steps_this_round = 0

    def batches(self, epochs: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Poisson-sampled row indices, one tensor per step, as many steps as the budget allows."""
        budget = self.budget
        steps = budget.allowed_steps(epochs * budget.steps_per_epoch)
        rows = torch.arange(budget.num_examples)
        for _ in range(steps):
            yield rows[torch.rand(budget.num_examples, generator=generator) < budget.sample_rate]

    @contextmanager
    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer, per_sample: bool) -> Iterator[DPStep]:
        """Opacus' hooks on `model` and the clipping/noising optimizer, for the duration; `per_sample`: every data
        term of the objective is a per-sample loss vector (ghost clipping can run)."""
        settings = self.budget.settings
        mode = resolved_mode(settings.grad_sample_mode, per_sample, model)
        sigma = 0.0 if self.broken_no_noise else self.budget.noise_multiplier
        noise = dict(noise_multiplier=sigma, max_grad_norm=settings.max_grad_norm,
                     expected_batch_size=self.budget.expected_batch_size, loss_reduction="mean",
                     generator=torch.Generator().manual_seed(self.seed))
        step, close = _STEPS.get(mode, _hooked)(model, optimizer, noise, mode)
        try:
            with warnings.catch_warnings():  # Opacus' hooks on the first layer, whose input needs no gradient
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                yield step
        finally:
            close()
            for p in model.parameters():
                p.grad_sample = None
                p._norm_sample = None

    def count_step(self) -> None:
        self.budget.record_steps(1)
        self.steps_this_round += 1


StepAndClose = tuple[DPStep, Callable[[], None]]


def _hooked(model: nn.Module, optimizer: torch.optim.Optimizer, noise: dict, mode: str) -> StepAndClose:
    from opacus import GradSampleModule  # imported on use: see fedkd/privacy/__init__.py
    from opacus.optimizers import DPOptimizer

    hooks = GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True,
                             force_functorch=mode == "functorch")
    return HookedStep(DPOptimizer(optimizer, **noise)), hooks._close


def _ghost(model: nn.Module, optimizer: torch.optim.Optimizer, noise: dict, mode: str) -> StepAndClose:
    from opacus.grad_sample import GradSampleModuleFastGradientClipping
    from opacus.optimizers import DPOptimizerFastGradientClipping

    hooks = GradSampleModuleFastGradientClipping(model, batch_first=True, loss_reduction="mean", strict=True,
                                                 max_grad_norm=noise["max_grad_norm"], use_ghost_clipping=True)
    return GhostStep(hooks, DPOptimizerFastGradientClipping(optimizer, **noise)), hooks._close


def _bookkeeping(model: nn.Module, optimizer: torch.optim.Optimizer, noise: dict, mode: str) -> StepAndClose:
    from opacus.optimizers import DPOptimizerFastGradientClipping

    step = BookkeepingStep(model, DPOptimizerFastGradientClipping(optimizer, **noise))
    return step, step.close


_STEPS = {"ghost": _ghost, "bookkeeping": _bookkeeping}
