"""Plain supervised local training (cross-entropy) and evaluation on in-memory tensors."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def make_optimizer(model: nn.Module, train_cfg: dict[str, Any]) -> torch.optim.Optimizer:
    if train_cfg["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=train_cfg["lr"], momentum=train_cfg["momentum"],
                               weight_decay=train_cfg["weight_decay"])
    return torch.optim.Adam(model.parameters(), lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"])


def train_local(model: nn.Module, x: torch.Tensor, y: torch.Tensor, train_cfg: dict[str, Any],
                seed: int) -> dict[str, float]:
    """Run `local_epochs` of mini-batch SGD/Adam; returns mean loss and accuracy over all steps."""
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(model, train_cfg)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for _ in range(train_cfg["local_epochs"]):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(order), train_cfg["batch_size"]):
            batch = order[start:start + train_cfg["batch_size"]]
            logits = model(x[batch])
            loss = F.cross_entropy(logits, y[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(1) == y[batch]).sum())
            seen += len(batch)
    return {"train_loss": total_loss / max(seen, 1), "train_accuracy": correct / max(seen, 1)}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> dict[str, float]:
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start:start + batch_size])
        total_loss += F.cross_entropy(logits, y[start:start + batch_size], reduction="sum").item()
        correct += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    n = max(len(y), 1)
    return {"eval_loss": total_loss / n, "eval_accuracy": correct / n}
