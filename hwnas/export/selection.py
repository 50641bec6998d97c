"""Which candidates export trains: chosen on measured latency where it can be measured.

The search ranks candidates on *predicted* latency. A predictor that is off on this
machine (issue 11: 2.6-2.9x slow for a predictor of the same device id) would have export
choose models whose latency does not hold. So, when the run's runtime is available here,
:func:`select_candidates` measures a bounded pool first (the search's front and the next
fronts, ``POOL_FACTOR`` times the models asked for), each with untrained weights (latency
does not depend on the weights) by the profiling protocol, and chooses among them on the
measured figures with the real latency ceilings applied. Without a runtime it chooses on
the predictions, as the search did, and says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hwnas.export.measure import measure_latency_ms

#: The pool measured before selection holds this many times the models asked for.
POOL_FACTOR = 4
#: A measured latency must sit this fraction under its ceiling to be selected: medians of
#: the protocol taken back to back differ by up to 3 % on a shared machine (see
#: :mod:`hwnas.profiling.protocol`), and the trained model is timed again after export.
LATENCY_NOISE = 0.03


@dataclass
class Selection:
    """The candidates export trains and how they were chosen.

    Attributes:
        chosen: ``(candidate, search rank)`` pairs; the rank is among the search's feasible
            candidates on its own (predicted) figures (0: its Pareto front).
        basis: ``"measured"`` (chosen on latency measured here), ``"predicted"`` (on the
            search's predicted latency) or ``"search"`` (latency is neither an objective
            nor a budget: chosen on the search's figures).
        reason: Why it is not ``"measured"``; when it is, empty, or why the chosen models
            are over a latency ceiling (no candidate of the pool met it when measured).
        measured_ms: Latency measured before selection, by architecture string.
        rejected: Architectures of the pool over a latency ceiling once measured.
        reserve: ``n, exclude`` -> up to ``n`` more candidates, the next best of the same
            pool by the same rule (measured figures, ceilings applied), none whose
            architecture is in ``exclude``: what export trains when too few of the chosen
            ones are kept once trained.
    """

    chosen: list[tuple[Any, int]]
    basis: str
    reason: str = ""
    measured_ms: dict[str, float] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    reserve: Callable[[int, set[str]], list[tuple[Any, int]]] | None = field(
        default=None, repr=False
    )

    def more(self, n: int, exclude: set[str]) -> list[tuple[Any, int]]:
        """Up to ``n`` candidates beyond those in ``exclude`` (see ``reserve``)."""
        return [] if self.reserve is None or n < 1 else self.reserve(n, exclude)

    def summary(self) -> dict[str, Any]:
        """The manifest's top-level record of the selection."""
        return {
            "selection": self.basis,
            "selection_reason": self.reason,
            "candidates_measured": len(self.measured_ms),
            "candidates_rejected": len(self.rejected),
        }


def untrained_latency_ms(
    runtime: Any,
    space: Any,
    arch: str,
    *,
    shape: tuple[int, int, int],
    classes: int,
    batch: int,
    protocol: Mapping[str, Any],
) -> float:
    """Latency of architecture ``arch`` (its string) built with fresh weights: latency does
    not depend on the weights, so selection needs no training."""
    from hwnas.nn import build_model

    model = build_model(space, space.parse(arch), shape, classes).eval()
    return measure_latency_ms(runtime, model, shape, batch, **protocol)


def measured_budgets(budgets: Sequence[Any], search_budgets: Sequence[Any]) -> tuple[Any, ...]:
    """The budgets to apply to measured candidates: a latency ceiling as written (less
    ``LATENCY_NOISE``; the search's safety margin was for predictor error), every other
    budget as the search applied it (an accuracy floor with the slack for estimates)."""
    out = []
    for real, applied in zip(budgets, search_budgets, strict=True):
        if real.metric == "latency_ms" and real.op == "<=":
            out.append(dataclasses.replace(real, bound=real.bound * (1 - LATENCY_NOISE)))
        else:
            out.append(applied)
    return tuple(out)


def nothing_feasible_message(
    candidates: Sequence[Any], budgets: Sequence[Any], search_budgets: Sequence[Any]
) -> str:
    """Why a run has nothing to export: how many candidates were evaluated, how close the
    best came to each budget (as written, and as the search applied it where that differs:
    a latency safety margin, an accuracy slack for estimates) and what to change."""
    done = [c for c in candidates if c.status == "done"]
    skipped = sum(1 for c in candidates if c.status == "skipped")
    failed = len(candidates) - len(done) - skipped
    counts = f"{len(done)} evaluated" + (
        f", {skipped} skipped on predicted costs" if skipped else ""
    )
    counts += f", {failed} failed" if failed else ""
    if not done:
        return (
            f"no candidate was evaluated ({counts}): nothing to export; a candidate "
            "that breaks a budget on its predicted costs is not trained: loosen the "
            "budgets, or see why the evaluations failed (hwnas report RUN)"
        )
    closest = []
    for written, budget in zip(budgets, search_budgets, strict=True):
        values = [float(c.metrics[budget.metric]) for c in done if budget.metric in c.metrics]
        if not values:
            continue
        best = min(values) if budget.op == "<=" else max(values)
        meeting = sum(1 for v in values if budget.met(v))
        applied = "" if budget.bound == written.bound else f" ({budget.bound:g} as searched)"
        verb = "meets" if meeting == 1 else "meet"
        closest.append(f"{written}{applied}: best {best:.6g}, {meeting} of {len(values)} {verb} it")
    return (
        f"no evaluated candidate meets every budget ({counts}; "
        + "; ".join(closest)
        + "): nothing to export. Train the estimates longer (evaluator.recipe.epochs or "
        "supernet.epochs), evaluate more (termination.evaluations; strategy.targets for "
        "differentiable) or loosen the budgets"
    )


def select_candidates(
    candidates: Sequence[Any],
    *,
    objectives: tuple[str, ...],
    budgets: tuple[Any, ...],
    search_budgets: tuple[Any, ...],
    top_k: int | None,
    key: Callable[[Any], str],
    measure: Callable[[str], float] | None,
    reason: str = "",
) -> Selection:
    """Choose up to ``top_k`` candidates (the whole front when ``None``).

    Args:
        candidates: The run store's candidates.
        objectives: The run's objectives.
        budgets: The budgets as written; ``search_budgets`` as the search applied them.
        top_k: Models wanted.
        key: One network per key (the space's ``network_key`` on the candidate).
        measure: Latency in ms of an architecture string here; ``None`` without a runtime.
        reason: Why ``measure`` is ``None`` (recorded in the selection).
    """
    from hwnas.pareto import ranked_selection

    uses_latency = "latency_ms" in objectives or any(b.metric == "latency_ms" for b in budgets)
    if not uses_latency or measure is None:
        chosen = ranked_selection(candidates, objectives, search_budgets, top_k, key=key)
        reserve = partial(
            _reserve,
            candidates=candidates,
            objectives=objectives,
            budgets=search_budgets,
            key=key,
        )
        if not uses_latency:
            return Selection(
                chosen, "search", "latency is neither an objective nor a budget", reserve=reserve
            )
        return Selection(chosen, "predicted", reason or "no runtime to measure on", reserve=reserve)
    front = ranked_selection(candidates, objectives, search_budgets, None, key=key)
    pool = ranked_selection(
        candidates, objectives, search_budgets, POOL_FACTOR * (top_k or len(front)), key=key
    )
    measured = {c.arch: measure(c.arch) for c, _ in pool}
    rank = {c.arch: r for c, r in pool}
    timed = [
        dataclasses.replace(c, metrics={**c.metrics, "latency_ms": measured[c.arch]})
        for c, _ in pool
    ]
    applied = measured_budgets(budgets, search_budgets)
    latency_budgets = [b for b in applied if b.metric == "latency_ms"]
    rejected = [c.arch for c in timed if not all(b.met(measured[c.arch]) for b in latency_budgets)]
    chosen = ranked_selection(timed, objectives, applied, top_k, key=key)
    reason = ""
    if not chosen:
        # Nothing the search found meets the ceiling here: export the closest models, to
        # be flagged once measured, so that the manifest and report show what happened.
        others = tuple(b for b in applied if b.metric != "latency_ms")
        chosen = ranked_selection(timed, objectives, others, top_k, key=key)
        reason = (
            f"all {len(timed)} measured candidates are over a latency ceiling"
            if timed
            else "no candidate of the search met every budget as searched: none to measure"
        )
    original = {c.arch: c for c, _ in pool}
    # Beyond the chosen ones, only candidates that meet the ceilings once measured.
    reserve = partial(
        _reserve,
        candidates=timed,
        objectives=objectives,
        budgets=applied,
        key=key,
        original=original,
        rank=rank,
    )
    return Selection(
        [(original[c.arch], rank[c.arch]) for c, _ in chosen],
        "measured",
        reason,
        measured_ms=measured,
        rejected=rejected,
        reserve=reserve,
    )


def _reserve(
    n: int,
    exclude: set[str],
    *,
    candidates: Sequence[Any],
    objectives: tuple[str, ...],
    budgets: tuple[Any, ...],
    key: Callable[[Any], str],
    original: Mapping[str, Any] | None = None,
    rank: Mapping[str, int] | None = None,
) -> list[tuple[Any, int]]:
    """The next ``n`` of ``candidates`` (those not in ``exclude``, nor of a network in it),
    by :func:`hwnas.pareto.ranked_selection`; given back as the store's candidates (from
    ``original`` where they were re-timed) with their search rank."""
    from hwnas.pareto import ranked_selection

    original = original or {}
    taken = {key(c) for c in candidates if c.arch in exclude}
    rest = [c for c in candidates if c.arch not in exclude and key(c) not in taken]
    picked = ranked_selection(rest, objectives, budgets, n, key=key)
    return [
        (original.get(c.arch, c), r if rank is None else rank.get(c.arch, r)) for c, r in picked
    ]
