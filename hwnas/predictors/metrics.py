"""Accuracy metrics of latency predictions: relative error, error bands and rank agreement."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.errors import HwnasError


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def evaluate_predictions(
    y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray
) -> dict[str, Any]:
    """Compare predicted with measured latencies.

    Args:
        y_true: Measured latencies in milliseconds (positive).
        y_pred: Predicted latencies in milliseconds, same length.

    Returns:
        ``{"n", "rmse_ms", "mape", "within_5pct", "within_10pct", "kendall_tau",
        "spearman"}``. ``mape`` and the ``within_*`` shares are fractions (0.05 = 5 %),
        relative to the measured value. ``kendall_tau`` (tau-b, so ties count) and
        ``spearman`` are ``None`` when undefined (fewer than 2 values, or constant ones).

    Raises:
        HwnasError: The arrays differ in length, are empty, or ``y_true`` has a value
            that is not a positive finite number.
    """
    from scipy.stats import kendalltau, spearmanr

    true = np.asarray(y_true, dtype=float).ravel()
    pred = np.asarray(y_pred, dtype=float).ravel()
    if true.shape != pred.shape:
        raise HwnasError(
            f"y_pred: expected {true.size} predictions (one per measurement), got {pred.size}"
        )
    if true.size == 0:
        raise HwnasError("y_true: expected at least one measurement, got none")
    if not np.all(np.isfinite(true)) or np.any(true <= 0):
        raise HwnasError("y_true: expected positive finite latencies")
    if not np.all(np.isfinite(pred)):
        raise HwnasError("y_pred: expected finite predictions")
    rel = np.abs(pred - true) / true
    tau = rho = math.nan
    if true.size >= 2 and np.ptp(true) > 0 and np.ptp(pred) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tau = float(kendalltau(true, pred).statistic)
            rho = float(spearmanr(true, pred).statistic)
    return {
        "n": int(true.size),
        "rmse_ms": float(np.sqrt(np.mean((pred - true) ** 2))),
        "mape": float(np.mean(rel)),
        "within_5pct": float(np.mean(rel <= 0.05)),
        "within_10pct": float(np.mean(rel <= 0.10)),
        "kendall_tau": _finite_or_none(tau),
        "spearman": _finite_or_none(rho),
    }
