"""Fixtures of the predictor tests: the nb201 space and a synthetic profile."""

from __future__ import annotations

import pytest

from hwnas.profiling.store import ProfileRecord
from hwnas.spaces import create_space
from hwnas.spaces.base import SearchSpace

from .synthetic import additive_latency, make_records


@pytest.fixture
def nb201() -> SearchSpace:
    return create_space("nb201")


@pytest.fixture
def records(nb201: SearchSpace) -> list[ProfileRecord]:
    """300 architectures of a synthetic device with additive per-operation costs."""
    return make_records(nb201, 300, additive_latency(0))
