"""Pareto utilities: constrained non-dominated sorting and hypervolume (pymoo underneath)."""

from __future__ import annotations

import numpy as np


def violation(G: np.ndarray) -> np.ndarray:
    """Total constraint violation of each row of ``G`` (0 when every ``g <= 0``)."""
    G = np.asarray(G, dtype=float)
    if G.ndim == 1:
        G = G[:, None]
    if G.shape[1] == 0:
        return np.zeros(len(G))
    return np.clip(G, 0.0, None).sum(axis=1)


def nondominated_ranks(F: np.ndarray) -> np.ndarray:
    """The non-domination rank of each row of ``F`` (0 = Pareto front), all minimised."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    F = np.asarray(F, dtype=float)
    ranks = np.empty(len(F), dtype=int)
    if len(F) == 0:
        return ranks
    for rank, front in enumerate(NonDominatedSorting().do(F)):
        ranks[front] = rank
    return ranks


def pareto_mask(F: np.ndarray, G: np.ndarray | None = None) -> np.ndarray:
    """Rows that are feasible and not dominated by another feasible row."""
    F = np.asarray(F, dtype=float)
    feasible = np.ones(len(F), bool) if G is None else violation(G) <= 0
    mask = np.zeros(len(F), dtype=bool)
    index = np.flatnonzero(feasible)
    if len(index):
        mask[index[nondominated_ranks(F[index]) == 0]] = True
    return mask


def hypervolume(F: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume dominated by the rows of ``F`` (minimised) up to ``reference``.

    Rows not strictly better than the reference in every objective add nothing.
    """
    from pymoo.indicators.hv import HV

    F = np.asarray(F, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if len(F) == 0:
        return 0.0
    inside = np.all(F < reference, axis=1)
    if not inside.any():
        return 0.0
    return float(HV(ref_point=reference)(F[inside]))


def constrained_order(F: np.ndarray, G: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices from best to worst: feasible by rank then violation, ties broken randomly."""
    F = np.asarray(F, dtype=float)
    cv = violation(G)
    ranks = np.full(len(F), np.iinfo(np.int64).max // 2, dtype=np.int64)
    feasible = np.flatnonzero(cv <= 0)
    if len(feasible):
        ranks[feasible] = nondominated_ranks(F[feasible])
    tie = rng.random(len(F))
    return np.lexsort((tie, cv, ranks))


def spread_indices(n: int, k: int) -> list[int]:
    """``min(n, k)`` indices spread evenly over ``0..n-1``, both ends kept.

    Picks a few points of a front sorted along one objective so that they cover it from
    end to end rather than crowding at one end.
    """
    if n <= k:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
