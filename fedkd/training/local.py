"""Local mini-batch training with a pluggable objective, and evaluation, on in-memory tensors.

An objective maps a batch to the student's outputs (embedding and logits, from one forward pass) and a
dict of named, already weighted loss terms; the workload's extra terms are computed from the same
outputs (one forward per step: DP-SGD's per-sample hooks need every forward to reach the loss). A data
term is either a per-sample vector (one loss per row) or a batch mean; an objective (or workload) whose
data terms are all per-sample says so with `per_sample`, which lets DP-SGD use ghost clipping. The loop
sums the terms' batch means (the mdistiller contract) and reports each term's mean as `loss_<name>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from fedkd.audit.canary_gradients import CanaryGradients
from fedkd.config.fields import above, at_least, below, one_of, setting
from fedkd.config.search_space import Interval, Space
from fedkd.distill.outputs import Outputs, forward_outputs
from fedkd.privacy.sample_level import PrivateTraining
from fedkd.protocol.reply import TRAIN_ACCURACY, TRAIN_LOSS, loss_key

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[Outputs, dict[str, torch.Tensor]]]
# Terms that depend on the weights only (no data): under DP-SGD their gradient is added after the noise.
PARAMETER_TERMS = frozenset({"proximal"})
# Workload terms added to every objective: (student outputs, y, row indices of the batch) -> named weighted terms.
ExtraTerms = Callable[[Outputs, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
Fn = TypeVar("Fn", bound=Callable)


def per_sample(fn: Fn) -> Fn:
    """Mark an objective or workload terms whose every data term is a per-sample loss vector."""
    fn.per_sample = True  # type: ignore[attr-defined]
    return fn


def is_per_sample(fn: Callable | None) -> bool:
    """Whether `fn` (None: no terms) gives only per-sample data terms."""
    return fn is None or getattr(fn, "per_sample", False)


def batch_mean(term: torch.Tensor) -> torch.Tensor:
    return term.mean() if term.dim() else term


@dataclass
class TrainSettings:
    """`train`: local training at each client."""

    local_epochs: int = setting(2, at_least(1), help="epochs over the client's training split per participation")
    batch_size: int = setting(32, at_least(1))
    optimizer: str = setting("adam", one_of(("adam", "sgd")))
    lr: float = setting(0.001, above(0))
    momentum: float = setting(0.9, at_least(0), below(1), help="sgd only")
    weight_decay: float = setting(0.0, at_least(0))

    def search_space(self) -> dict[str, Space]:
        """What a tuning run searches for every method (keys under `train.`): the learning rate, over two decades
        around the optimizer's usual value."""
        return {"lr": Interval(1e-4, 1e-2, log=True) if self.optimizer == "adam" else Interval(1e-3, 1e-1, log=True)}



@per_sample
def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[Outputs, dict[str, torch.Tensor]]:
    outputs = forward_outputs(model, x)
    return outputs, {"ce": F.cross_entropy(outputs.logits, y, reduction="none")}


def make_optimizer(params: Iterable[nn.Parameter], settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)


def shuffled_batches(n: int, batch_size: int, epochs: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Row indices of `epochs` passes over n rows, reshuffled each pass, in batches of `batch_size`.

    A last batch of one row joins the batch before it: BatchNorm cannot train on a single row once the spatial
    size is 1×1 (the LR student's last stage).
    """
    for _ in range(epochs):
        batches = list(torch.randperm(n, generator=generator).split(batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2:] = [torch.cat(batches[-2:])]
        yield from batches


def train_local(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings, seed: int,
    objective: Objective = cross_entropy, epochs: int | None = None,
    params: Iterable[nn.Parameter] | None = None, extra_terms: ExtraTerms | None = None,
    private: PrivateTraining | None = None, canaries: CanaryGradients | None = None,
) -> dict[str, float]:
    """Run `epochs` (default `train.local_epochs`) over (x, y), optimising `params` (default: all).

    `extra_terms` (the workload's own losses, e.g. face distillation from an HR teacher) are added to
    the objective's terms on every batch; they receive the student's outputs and the batch's row
    indices into (x, y).
    With `private`, the steps are DP-SGD steps on Poisson batches, as many as the client's budget allows.
    With `canaries` (a privacy audit's included gradient canaries), each step adds those it samples.

    Returns the example-weighted means over all steps of the summed loss (`train_loss`), of each
    term (`loss_<name>`) and the training accuracy.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(model.parameters() if params is None else params, settings)
    epochs = settings.local_epochs if epochs is None else epochs
    if private is None:
        batches = shuffled_batches(len(y), settings.batch_size, epochs, gen)
    else:
        batches = private.batches(epochs, gen)
    model.train()
    trained = {id(p) for group in opt.param_groups for p in group["params"]}
    named = {name: p for name, p in model.named_parameters() if id(p) in trained}
    sums: dict[str, float] = {}
    correct, seen = 0, 0
    if private is None:
        for batch in batches:
            outputs, terms = _batch_terms(objective, extra_terms, model, x, y, batch)
            loss = torch.stack([batch_mean(v) for v in terms.values()]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if canaries is not None:
                canaries.add(named, settings.batch_size / len(y), len(batch))
            opt.step()
            correct += _tally(sums, loss, terms, outputs, y[batch])
            seen += len(batch)
    else:
        x = x.to(memory_format=torch.contiguous_format)  # channels-last inputs zero Opacus' conv per-sample gradients
        with private.attach(model, opt, is_per_sample(objective) and is_per_sample(extra_terms)) as dp:
            for batch in batches:
                private.count_step()
                if len(batch) == 0:
                    dp.empty()
                    continue
                outputs, terms = _batch_terms(objective, extra_terms, model, x, y, batch)
                dp.step([v for k, v in terms.items() if k not in PARAMETER_TERMS],
                        [v for k, v in terms.items() if k in PARAMETER_TERMS],
                        None if canaries is None else lambda: canaries.add(
                            named, private.budget.sample_rate, private.budget.expected_batch_size))
                loss = torch.stack([batch_mean(v) for v in terms.values()]).sum()
                correct += _tally(sums, loss, terms, outputs, y[batch])
                seen += len(batch)
    return {k: v / max(seen, 1) for k, v in sums.items()} | {TRAIN_ACCURACY: correct / max(seen, 1)}


def _batch_terms(objective: Objective, extra_terms: ExtraTerms | None, model: nn.Module, x: torch.Tensor,
                 y: torch.Tensor, batch: torch.Tensor) -> tuple[Outputs, dict[str, torch.Tensor]]:
    outputs, terms = objective(model, x[batch], y[batch])
    if extra_terms is not None:
        terms = terms | extra_terms(outputs, y[batch], batch)
    return outputs, terms


def _tally(sums: dict[str, float], loss: torch.Tensor, terms: dict[str, torch.Tensor], outputs: Outputs,
           y: torch.Tensor) -> int:
    """Add the batch's example-weighted loss and term means to `sums`; returns its correct predictions."""
    for name, value in ((TRAIN_LOSS, loss), *((loss_key(k), batch_mean(v)) for k, v in terms.items())):
        sums[name] = sums.get(name, 0.0) + value.item() * len(y)
    return int((outputs.logits.argmax(1) == y).sum())


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> dict[str, float]:
    """Mean cross-entropy (`loss`) and top-1 `accuracy` of `model` in eval mode."""
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start:start + batch_size])
        total_loss += F.cross_entropy(logits, y[start:start + batch_size], reduction="sum").item()
        correct += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    n = max(len(y), 1)
    return {"loss": total_loss / n, "accuracy": correct / n}
