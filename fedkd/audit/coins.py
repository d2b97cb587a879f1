"""The secret inclusion coins: canary i of client k is trained on iff coin i is heads. Only the client's training
and the final judging read them; the scoring path (`scoring.py`) never imports this module."""

from __future__ import annotations

import torch

SECRET_STREAM = 104_729


def inclusion_coins(num: int, secret_seed: int, partition_id: int) -> torch.Tensor:
    """m independent fair coins (True: included), determined by the secret seed and the client."""
    gen = torch.Generator().manual_seed(secret_seed * 1_000_033 + partition_id * SECRET_STREAM)
    return torch.rand(num, generator=gen) < 0.5
