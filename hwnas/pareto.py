"""Pareto utilities: constrained non-dominated sorting, hypervolume (pymoo underneath), and
the Pareto front and ranked selection of a search's evaluated candidates.

The one place for these: on arrays (:func:`pareto_mask`, :func:`front_2d`,
:func:`nondominated_ranks`, :func:`hypervolume`) and on stored candidates
(:func:`pareto_front`, :func:`ranked_selection`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from hwnas.objectives import Budget, constraint_vector, objective_vector

if TYPE_CHECKING:
    from hwnas.store import Candidate


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


def front_2d(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``points`` (k x 2, minimised), by column 0.

    Of duplicate points, the first is kept. A sort instead of :func:`pareto_mask`'s
    non-dominated sorting: fast enough to call inside an acquisition loop.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if not len(points):
        return np.empty(0, dtype=int)
    order = np.lexsort((points[:, 1], points[:, 0]))
    best = np.minimum.accumulate(points[order, 1])
    keep = np.r_[True, points[order[1:], 1] < best[:-1]]
    return order[keep]


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


def candidate_values(
    candidates: Sequence[Candidate], objectives: tuple[str, ...], budgets: tuple[Budget, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Objective (n x objectives) and constraint (n x budgets) values of evaluated
    candidates (status ``done``: every metric is known)."""
    F = np.array([objective_vector(c.metrics, objectives) for c in candidates], dtype=float)
    G = np.array([constraint_vector(c.metrics, budgets) for c in candidates], dtype=float)
    return F.reshape(len(candidates), len(objectives)), G.reshape(len(candidates), len(budgets))


def pareto_front(
    candidates: Sequence[Candidate], objectives: tuple[str, ...], budgets: tuple[Budget, ...]
) -> list[Candidate]:
    """The feasible, non-dominated evaluated candidates, sorted by the first objective."""
    done = [c for c in candidates if c.status == "done"]
    if not done:
        return []
    F, G = candidate_values(done, objectives, budgets)
    front = [(tuple(f), c) for c, f, keep in zip(done, F, pareto_mask(F, G), strict=True) if keep]
    return [c for _, c in sorted(front, key=lambda pair: pair[0])]


def ranked_selection(
    candidates: Sequence[Candidate],
    objectives: tuple[str, ...],
    budgets: tuple[Budget, ...],
    k: int | None,
    key: Callable[[Candidate], str] | None = None,
) -> list[tuple[Candidate, int]]:
    """Up to ``k`` feasible evaluated candidates, best non-domination rank first.

    The Pareto front (rank 0) comes first; when it has fewer than ``k`` members, the next
    fronts fill the selection (an estimate's noise often leaves the true trade-off on them).
    Within the front that overflows, the picks are spread along the first objective (both
    ends kept). Returns ``(candidate, rank)`` pairs sorted by objectives; ``k=None`` gives
    the whole front. With ``key`` (e.g. the space's ``network_key``), candidates with the
    same key are one network: only the best of them by objectives is considered.
    """
    done = [c for c in candidates if c.status == "done"]
    if not done:
        return []
    _, G = candidate_values(done, objectives, budgets)
    feasible = [c for c, v in zip(done, violation(G), strict=True) if v <= 0]
    if not feasible:
        return []

    def by_objectives(c: Candidate) -> tuple[float, ...]:
        return tuple(objective_vector(c.metrics, objectives))

    if key is not None:
        best: dict[str, Candidate] = {}
        for c in sorted(feasible, key=by_objectives):
            best.setdefault(key(c), c)
        kept = {id(c) for c in best.values()}
        feasible = [c for c in feasible if id(c) in kept]
    F, _ = candidate_values(feasible, objectives, ())
    ranks = nondominated_ranks(F)
    chosen: list[tuple[Candidate, int]] = []
    for rank in range(int(ranks.max()) + 1):
        members = sorted(
            (c for c, r in zip(feasible, ranks, strict=True) if r == rank), key=by_objectives
        )
        room = len(members) if k is None else k - len(chosen)
        chosen += [(members[i], rank) for i in spread_indices(len(members), room)]
        if k is None or len(chosen) >= k:
            break
    return sorted(chosen, key=lambda pair: by_objectives(pair[0]))
