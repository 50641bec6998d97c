"""Shared fixtures: every registered space, small shapes, seeded generators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.spaces import create_space, list_spaces


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=list_spaces())
def space(request: pytest.FixtureRequest):
    """Each registered search space with its default configuration."""
    return create_space(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def tiny_digits(n_train: int = 96, n_val: int = 48):
    """The first ``n_train`` training and ``n_val`` val digits (a distinct fingerprint)."""
    import dataclasses

    from hwnas.data import Split, load_dataset

    ds = load_dataset("digits")
    return dataclasses.replace(
        ds,
        train=Split(ds.train.x[:n_train], ds.train.y[:n_train]),
        val=Split(ds.val.x[:n_val], ds.val.y[:n_val]),
        fingerprint=ds.fingerprint + "-tiny",
    )


#: A tiny input shape per space that still exercises every layer.
SMALL_SHAPES = {
    "mbconv": (1, 8, 8),
    "nb201": (3, 8, 8),
    "convnet": (1, 8, 8),
    "transformer": (1, 8, 8),
}


def make_realistic(model: torch.nn.Module, shape: tuple[int, ...], seed: int = 0) -> None:
    """Give an untrained model trained-like statistics: random non-trivial BN affine and
    classifier weights, then BN statistics estimated on random inputs (as after training),
    so that outputs are O(1) and parity checks compare real numbers."""
    from hwnas.nn import recalibrate_batchnorm

    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        elif isinstance(m, torch.nn.Linear):
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) * 0.1)
    recalibrate_batchnorm(model, [torch.randn(16, *shape, generator=g) for _ in range(3)])
