"""Sample-level differential privacy at the clients: DP-SGD (Abadi et al., "Deep Learning with
Differential Privacy", CCS 2016) through Opacus, with one accountant per client that lives in the
client's state across rounds.

Every local training call of a client (whatever the method: the update it sends, a personal model it
keeps) runs DP-SGD on its private training split: Poisson sampling at rate q = 1/ceil(n/B), per-sample
gradients (Opacus hooks or functorch), clipping to `max_grad_norm`, Gaussian noise σ·C on the sum. The
client's ε is cumulative over all its steps in all its participations (add/remove one training record
of that client), at δ `delta`, by the RDP or PRV accountant. σ is given, or found at the client's first
participation for the target ε over the planned participations; a client never takes a step that
would push its ε past the target, and a client with no step left refuses to train.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from flwr.app import ConfigRecord
from torch import nn

from fedkd.privacy.accounting import epsilon, noise_for_target, steps_within_budget
from fedkd.state.client_state import ClientState

if TYPE_CHECKING:
    from opacus.optimizers import DPOptimizer

STATE_KEY = "fedkd.privacy"
GRAD_SAMPLE_MODES = ("hooks", "functorch")
SCOPE = ("sample-level (add/remove one training record of a client), cumulative over all of that client's "
         "local steps in all rounds; covers the model updates and any model trained on the record, "
         "not the loss/accuracy metrics clients report")


@dataclass(frozen=True)
class SampleDPSettings:
    """`privacy` section with mode = sample."""

    target_epsilon: float | None
    noise_multiplier: float | None
    delta: float
    max_grad_norm: float
    accountant: str
    grad_sample_mode: str
    planned_participations: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SampleDPSettings | None:
        privacy = config.get("privacy", {})
        if privacy.get("mode", "none") != "sample":
            return None
        sim = config["simulation"]
        planned = privacy["planned_participations"] or math.ceil(config["num_rounds"] * sim["fraction_train"])
        return cls(privacy["target_epsilon"], privacy["noise_multiplier"], privacy["delta"],
                   privacy["max_grad_norm"], privacy["accountant"], privacy["grad_sample_mode"], planned)


class ClientBudget:
    """One client's privacy accountant, kept in its state: σ, q and the steps taken so far.

    All of a client's DP-SGD steps share one (σ, q), so its accountant history is the single
    composition (σ, q, total steps), and ε after k participations is ε(σ, q, k·steps).
    """

    def __init__(self, settings: SampleDPSettings, state: ClientState, num_examples: int, batch_size: int,
                 epochs_per_participation: int) -> None:
        self.settings = settings
        self.num_examples = num_examples
        self.steps_per_epoch = math.ceil(num_examples / batch_size)
        self.sample_rate = 1.0 / self.steps_per_epoch  # Opacus' Poisson rate for a loader of this length
        self.expected_batch_size = max(1, round(num_examples * self.sample_rate))
        if STATE_KEY not in state.record.config_records:
            planned = settings.planned_participations * epochs_per_participation * self.steps_per_epoch
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
        return {"dp_epsilon": self.epsilon(), "dp_noise_multiplier": self.noise_multiplier,
                "dp_total_steps": self.steps, "dp_sample_rate": self.sample_rate}

    def describe(self) -> str:
        target = self.settings.target_epsilon
        of = f" of {target:g}" if target is not None else ""
        return (f"ε={self.epsilon():.3f}{of} at δ={self.settings.delta:g} ({self.settings.accountant.upper()}, "
                f"{self.steps} steps, σ={self.noise_multiplier:.3f})")


class PrivateTraining:
    """DP-SGD for the local training calls of one participation; charges every step to `budget`."""

    def __init__(self, budget: ClientBudget, seed: int) -> None:
        self.budget = budget
        self.seed = seed
        self.steps_this_round = 0

    def batches(self, epochs: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Poisson-sampled row indices, one tensor per step, as many steps as the budget allows."""
        budget = self.budget
        steps = budget.allowed_steps(epochs * budget.steps_per_epoch)
        rows = torch.arange(budget.num_examples)
        for _ in range(steps):
            yield rows[torch.rand(budget.num_examples, generator=generator) < budget.sample_rate]

    @contextmanager
    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[DPOptimizer]:
        """Per-sample gradient hooks on `model` and the clipping/noising optimizer, for the duration."""
        from opacus import GradSampleModule  # imported on use: see fedkd/privacy/__init__.py
        from opacus.optimizers import DPOptimizer

        settings = self.budget.settings
        hooks = GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True,
                                 force_functorch=settings.grad_sample_mode == "functorch")
        dp_optimizer = DPOptimizer(optimizer, noise_multiplier=self.budget.noise_multiplier,
                                   max_grad_norm=settings.max_grad_norm,
                                   expected_batch_size=self.budget.expected_batch_size, loss_reduction="mean",
                                   generator=torch.Generator().manual_seed(self.seed))
        try:
            with warnings.catch_warnings():  # Opacus' hooks on the first layer, whose input needs no gradient
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                yield dp_optimizer
        finally:
            hooks._close()
            for p in model.parameters():
                p.grad_sample = None

    def count_step(self) -> None:
        self.budget.record_steps(1)
        self.steps_this_round += 1


def empty_batch_step(optimizer: DPOptimizer) -> None:
    """A Poisson batch can be empty: the step still releases noise (and is accounted)."""
    for p in optimizer.params:
        p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
