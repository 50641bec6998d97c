"""Acquisition values in closed form: expected shortfall, EHVI and probability of
non-domination (PoND) in two objectives of which one is known exactly, and the hypervolume
improvement of single points.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from hwnas.pareto import front_2d, hypervolume


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return np.asarray(ndtr(z))


def expected_shortfall(
    level: np.ndarray, mu: np.ndarray, sigma: np.ndarray, log: bool
) -> np.ndarray:
    """``E[max(0, level - Y)]`` for ``Y ~ N(mu, sigma)`` or, with ``log``, ``log Y ~ N(mu, sigma)``.

    Broadcasts ``level`` (any shape) against ``mu`` and ``sigma``.
    """
    sigma = np.maximum(sigma, 1e-12)
    if not log:
        z = (level - mu) / sigma
        return np.maximum((level - mu) * _normal_cdf(z) + sigma * _normal_pdf(z), 0.0)
    positive = level > 0
    safe = np.where(positive, level, 1.0)
    z = (np.log(safe) - mu) / sigma
    value = safe * _normal_cdf(z) - np.exp(mu + 0.5 * sigma * sigma) * _normal_cdf(z - sigma)
    return np.where(positive, np.maximum(value, 0.0), 0.0)


class Candidates2D(NamedTuple):
    """N candidates in two minimised objectives: column 0 known exactly, column 1 uncertain.

    Attributes:
        known: The known values (N,).
        mu: Posterior mean (of the log with ``log``) of the uncertain value (N,).
        sigma: Posterior standard deviation (N,).
        log: Whether the posterior is log-normal (else normal).
    """

    known: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    log: bool


def ehvi_2d(front: np.ndarray, reference: np.ndarray, candidates: Candidates2D) -> np.ndarray:
    """Exact expected hypervolume improvement of ``candidates`` over ``front`` (k x 2;
    dominated points and those outside ``reference`` (2,) are ignored)."""
    known, mu, sigma, log = candidates
    front = np.asarray(front, dtype=float).reshape(-1, 2)
    front = front[np.all(front < reference, axis=1)]
    front = front[front_2d(front)]
    levels = np.r_[reference[1], front[:, 1]]
    shortfall = expected_shortfall(levels[None, :], mu[:, None], sigma[:, None], log)
    return segment_sum(front[:, 0], reference[0], np.asarray(known, float), shortfall)


def pond_2d(front: np.ndarray, reference: np.ndarray, candidates: Candidates2D) -> np.ndarray:
    """Probability that each of ``candidates`` is not dominated by ``front`` (k x 2).

    A candidate at ``known`` is dominated by a point that is no worse in both columns, so it
    stays non-dominated when its value is below the lowest column-1 value among the points
    with column 0 at or below ``known`` (``reference[1]`` when there is none).
    """
    known, mu, sigma, log = candidates
    front = np.asarray(front, dtype=float).reshape(-1, 2)
    known = np.asarray(known, dtype=float)
    order = np.argsort(front[:, 0], kind="stable")
    best = np.minimum.accumulate(front[order, 1]) if len(order) else np.empty(0)
    position = np.searchsorted(front[order, 0], known, side="right")
    level = np.where(
        position > 0, best[np.maximum(position - 1, 0)] if len(best) else 0.0, reference[1]
    )
    level = np.minimum(level, reference[1])
    sigma = np.maximum(sigma, 1e-12)
    if log:
        z = (np.log(np.where(level > 0, level, 1e-300)) - mu) / sigma
        return np.where(level > 0, _normal_cdf(z), 0.0)
    return _normal_cdf((level - mu) / sigma)


def segment_sum(
    breaks: np.ndarray, end: float, known: np.ndarray, shortfall: np.ndarray
) -> np.ndarray:
    """``sum_j max(0, b_{j+1} - max(c, b_j)) * shortfall[:, j]`` over the front's segments.

    ``breaks`` are the front's known values in increasing order; segment ``j`` runs from
    ``b_j`` (``-inf`` for the first) to ``b_{j+1}`` (``end`` for the last) at the level of
    column ``j`` of ``shortfall`` (N x (len(breaks) + 1)).
    """
    starts = np.r_[-np.inf, breaks]
    ends = np.r_[breaks, end]
    lengths = np.maximum(ends[None, :] - np.maximum(known[:, None], starts[None, :]), 0.0)
    return np.asarray((lengths * shortfall).sum(axis=1))


def hv_improvement(
    front: np.ndarray, points: np.ndarray, reference: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Hypervolume gained by adding each row of ``points`` alone to ``front``.

    Exact in two objectives (vectorised); otherwise computed for at most 200 candidates not
    dominated by the front (chosen at random), 0 for the rest.
    """
    out = np.zeros(len(points))
    if points.shape[1] == 2:
        certain = Candidates2D(points[:, 0], points[:, 1], np.zeros(len(points)), False)
        return ehvi_2d(front, reference, certain)
    inside = np.all(points < reference, axis=1)
    if len(front):
        dominated = np.all(front[None, :, :] <= points[:, None, :], axis=2).any(axis=1)
        inside &= ~dominated
    index = np.flatnonzero(inside)
    if len(index) > 200:
        index = np.sort(rng.choice(index, size=200, replace=False))
    base = hypervolume(front, reference) if len(front) else 0.0
    for i in index:
        stacked = np.vstack([front, points[i][None, :]]) if len(front) else points[i][None, :]
        out[i] = hypervolume(stacked, reference) - base
    return out
