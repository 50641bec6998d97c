"""The differentiable latency term: a linear model of the predictor on one-hot choices.

With independent categorical distributions ``p_d`` over the choices of each encoding
dimension, the expected latency of a linear model is linear in the probabilities:
``E[lat] = b + sum_d sum_c p_dc w_dc`` (FBNet's and TF-NAS's lookup-table sum). The model is
fitted by least squares to the run's full latency predictor on random encodings (decoded,
so genes without effect cost nothing), and its fit on held-out encodings is reported: the
hard ceiling is always checked with the full predictor, never with this model.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr


def one_hot(encodings: np.ndarray, n_choices: Sequence[int]) -> np.ndarray:
    """Per-choice indicators of ``encodings`` (n x dims): n x ``sum(n_choices)``."""
    encodings = np.asarray(encodings, dtype=int).reshape(-1, len(n_choices))
    offsets = np.concatenate([[0], np.cumsum(n_choices)[:-1]]).astype(int)
    out = np.zeros((len(encodings), int(sum(n_choices))))
    rows = np.arange(len(encodings))[:, None]
    out[rows, encodings + offsets[None, :]] = 1.0
    return out


@dataclass
class LinearLatency:
    """``latency = intercept_ + sum_d weights_[d][choice_d]`` in ms.

    Attributes:
        intercept_: The constant part.
        weights_: One array per encoding dimension: the latency of each choice.
        fit_: Agreement with the predictor on held-out encodings: ``r2``, ``mape``
            (mean absolute percentage error), ``spearman``, ``n_fit``, ``n_held_out``.
    """

    intercept_: float
    weights_: list[np.ndarray]
    fit_: dict[str, float] = field(default_factory=dict)

    def predict(self, encodings: np.ndarray) -> np.ndarray:
        """The modelled latency of each encoding (n x dims)."""
        X = one_hot(encodings, [len(w) for w in self.weights_])
        return self.intercept_ + X @ np.concatenate(self.weights_)

    def expected(self, probs: Sequence[np.ndarray]) -> float:
        """The expected latency under independent choice probabilities ``probs``."""
        return self.intercept_ + float(
            sum(p @ w for p, w in zip(probs, self.weights_, strict=True))
        )


def fit_linear_latency(
    encodings: np.ndarray,
    latency_ms: np.ndarray,
    n_choices: Sequence[int],
    held_out: float = 0.2,
) -> LinearLatency:
    """Least-squares fit of :class:`LinearLatency` on all but the last ``held_out`` share
    of the rows, scored on that share.

    Args:
        encodings: Raw encodings (n x dims), as the strategy samples them.
        latency_ms: The predictor's latency of each (decoded) encoding.
        n_choices: Choices per encoding dimension.
        held_out: Share of rows kept for scoring.
    """
    y = np.asarray(latency_ms, dtype=float)
    X = np.c_[np.ones(len(y)), one_hot(encodings, n_choices)]
    n_fit = max(1, round(len(y) * (1.0 - held_out)))
    # One-hot columns of a dimension sum to the intercept column, so the system is rank
    # deficient; the minimum-norm solution gives the same predictions and expectations.
    coef, *_ = np.linalg.lstsq(X[:n_fit], y[:n_fit], rcond=None)
    bounds = np.cumsum([1, *n_choices])
    model = LinearLatency(float(coef[0]), [coef[a:b] for a, b in itertools.pairwise(bounds)])
    test_x, test_y = X[n_fit:], y[n_fit:]
    if len(test_y) >= 2:
        pred = test_x @ coef
        ss_res = float(np.sum((test_y - pred) ** 2))
        ss_tot = float(np.sum((test_y - test_y.mean()) ** 2)) or 1.0
        model.fit_ = {
            "r2": 1.0 - ss_res / ss_tot,
            "mape": float(np.mean(np.abs(pred - test_y) / np.abs(test_y))),
            "spearman": float(spearmanr(pred, test_y).statistic),
            "n_fit": n_fit,
            "n_held_out": len(test_y),
        }
    return model
