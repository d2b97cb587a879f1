"""Shared fixtures: an isolated data cache per test session; DP-SGD without its noise."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    import os

    os.environ.setdefault("FEDKD_CACHE_DIR", str(tmp_path_factory.mktemp("fedkd-cache")))


@pytest.fixture
def no_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opacus' Gaussian noise set to zero, so that a DP-SGD step shows the clipped sum alone."""
    import torch
    from opacus.optimizers import optimizer, optimizer_fast_gradient_clipping

    def zeros(std, reference, generator=None, secure_mode=False):
        return torch.zeros_like(reference)

    monkeypatch.setattr(optimizer, "_generate_noise", zeros)
    monkeypatch.setattr(optimizer_fast_gradient_clipping, "_generate_noise", zeros)
