"""The latency predictor hwnas strategies see in the bench: fitted on a realistic profiling
budget (at most :data:`~hwnas.bench.config.MAX_PROFILE_ARCHS` rows of the device column,
drawn with the seed), never on the rest of the column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.bench.config import MAX_PROFILE_ARCHS
from hwnas.benchmarks_table import BenchmarkTable
from hwnas.errors import ConfigError
from hwnas.spaces.base import SearchSpace

__all__ = ["EXACT_LATENCY", "INPUT_SHAPE", "NUM_CLASSES", "fit_latency_predictor", "profiled_rows"]

#: ``predictor`` value giving hwnas strategies the true latency column: a diagnostic (how
#: much of the regret is the predictor's), outside the benchmark's profiling budget.
EXACT_LATENCY = "exact"
#: Input shape and classes the latency predictor's cost features assume (NAS-Bench-201).
INPUT_SHAPE = (3, 32, 32)
NUM_CLASSES = 10


def profiled_rows(n_rows: int, seed: int, n: int) -> np.ndarray:
    """The table rows profiled for a seed: ``n`` distinct rows drawn with ``seed``."""
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=n, replace=False))


def fit_latency_predictor(
    space: SearchSpace,
    table: BenchmarkTable,
    column: str,
    seed: int,
    n: int,
    model: str,
    features: Sequence[str] = ("onehot", "costs"),
) -> Any:
    """A :class:`~hwnas.predictors.LatencyPredictor` fitted on ``n`` profiled rows only.

    Args:
        space: The search space of the table's architectures.
        table: The benchmark table.
        column: The latency column (ms) profiled.
        seed: Draws the profiled rows and seeds the predictor.
        n: Rows profiled (at most :data:`MAX_PROFILE_ARCHS`).
        model: A predictor model, models joined by ``+`` (the mean of their predictions),
            or :data:`EXACT_LATENCY`.
        features: The predictor's feature blocks.

    Returns:
        An object with ``predict(archs) -> np.ndarray`` (milliseconds).
    """
    from hwnas.predictors import LatencyPredictor
    from hwnas.profiling.importer import published_fingerprint
    from hwnas.profiling.store import ProfileRecord

    if n > MAX_PROFILE_ARCHS:
        raise ConfigError("profile_archs", f"at most {MAX_PROFILE_ARCHS}", n)
    if model == EXACT_LATENCY:
        return _ExactLatency(table, column)
    latency = table.column(column)
    fingerprint = published_fingerprint(
        column, input_shape=INPUT_SHAPE, batch=1, source_sha256=table.fingerprint
    )
    records = []
    for row in profiled_rows(len(table), seed, n):
        ms = float(latency[row])
        records.append(
            ProfileRecord(
                space=space.name,
                arch=table.archs[row],
                input_shape=INPUT_SHAPE,
                batch=1,
                num_classes=NUM_CLASSES,
                runtime="published",
                device_id=fingerprint["device_id"],
                fingerprint=fingerprint,
                latency_ms={"median": ms, "mean": ms, "p90": ms, "std": 0.0, "min": ms, "n": 1},
                space_fingerprint=space.fingerprint(),
                source=f"bench:{column}",
            )
        )
    names = [m.strip() for m in model.split("+")]
    if not all(names):
        raise ConfigError("predictor", "a model name, or names joined by '+'", model)
    fitted = [
        LatencyPredictor(model=name, seed=seed, features=list(features)).fit(records, space)
        for name in names
    ]
    return fitted[0] if len(fitted) == 1 else _MeanPredictor(fitted)


class _ExactLatency:
    """The column itself (``predictor: exact``): a diagnostic upper bound, not a benchmark."""

    def __init__(self, table: BenchmarkTable, column: str) -> None:
        self.table = table
        self.values = table.column(column)

    def predict(self, archs: Sequence[Any]) -> np.ndarray:
        return np.array([self.values[self.table.row_of(a)] for a in archs], dtype=float)


class _MeanPredictor:
    """The mean prediction of several latency predictors (``predictor: lut+gbr``)."""

    def __init__(self, members: Sequence[Any]) -> None:
        self.members = list(members)

    def predict(self, archs: Sequence[Any]) -> np.ndarray:
        return np.mean([np.asarray(m.predict(list(archs)), float) for m in self.members], axis=0)
