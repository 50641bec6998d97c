"""The one search loop: ask -> cheap metrics -> evaluate (executor) -> store -> tell.

Latency, MACs and parameters come from cheap models (a fitted latency predictor and the
closed-form cost counter), so only accuracy costs an evaluation, and the evaluation budget
counts accuracy evaluations only. A candidate whose cheap metrics already break a budget
is recorded as ``skipped`` and never evaluated. The strategy is told each candidate's
:class:`~hwnas.strategies.base.Status` (evaluated, failed or skipped) with the values known
for it: all of them when evaluated, only the cheap ones (``nan`` for error and accuracy)
otherwise.

The run store owns the history. A resumed search rebuilds the strategy from its seed and
replays it against the stored candidates: every architecture the strategy asks for that is
already stored is answered from the store, so the search continues exactly where it
stopped (with the inline executor, a resumed run gives the same result as an uninterrupted
one), losing at most the candidates that were in flight. A strategy with a
:meth:`~hwnas.strategies.base.Strategy.state_dict` skips the replay: its state is saved after
each step's ``tell`` and loaded on resume, and the loop goes on from that step (the
candidates asked again after the load that are already stored are answered from the store
as in a replay). A stored state that does not fit (another strategy, other options, seed,
objectives or budgets, a store with fewer candidates than the state has seen, or a state its
strategy refuses) is set aside with a ``RuntimeWarning`` and the search replays: the stored
candidates alone determine a replayed search, so this costs time, never correctness.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hwnas.costs import count_costs_fast
from hwnas.errors import ConfigError, HwnasError
from hwnas.evaluators.base import EvalResult
from hwnas.executors import EvalFailure, Executor
from hwnas.objectives import METRICS, Budget, metric_value
from hwnas.pareto import (
    candidate_values,
    hypervolume,
    pareto_front,
    ranked_selection,
    violation,
)
from hwnas.progress import maybe, progress_bar
from hwnas.search_state import load_state, save_state
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.store import Candidate, RunStore
from hwnas.strategies.base import Problem, Status, Strategy

__all__ = [
    "CheapMetrics",
    "LatencyEstimator",
    "Normalizer",
    "SearchResult",
    "pareto_front",
    "ranked_selection",
    "run_search",
]


class LatencyEstimator(Protocol):
    """Anything that predicts latency in ms for a list of architectures (a fitted
    :class:`~hwnas.predictors.LatencyPredictor`, a benchmark table's column...)."""

    def predict(self, archs: Sequence[Arch]) -> np.ndarray: ...


class CheapMetrics:
    """MACs, parameters and (with a predictor) latency, without an accuracy evaluation.

    Args:
        space: The search space.
        input_shape: ``(C, H, W)`` of one input.
        num_classes: Number of classes.
        latency: A latency predictor for the run's device, or ``None``.
    """

    def __init__(
        self,
        space: SearchSpace,
        input_shape: Sequence[int],
        num_classes: int,
        latency: LatencyEstimator | None = None,
    ) -> None:
        self.space = space
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.latency = latency

    @property
    def names(self) -> tuple[str, ...]:
        """The metrics this model provides."""
        return ("macs", "params") + (("latency_ms",) if self.latency is not None else ())

    def __call__(self, archs: Sequence[Arch]) -> list[dict[str, float]]:
        rows: list[dict[str, float]] = []
        for arch in archs:
            costs = count_costs_fast(self.space, arch, self.input_shape, self.num_classes)
            rows.append({"macs": float(costs.macs), "params": float(costs.params)})
        if self.latency is not None and archs:
            for row, ms in zip(rows, self.latency.predict(list(archs)), strict=True):
                row["latency_ms"] = float(ms)
        return rows


@dataclass
class SearchResult:
    """The outcome of :func:`run_search`."""

    evaluations: int
    generations: int
    seconds: float
    hypervolume: float
    pareto: list[Candidate]
    stopped_by: str
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "evaluations": self.evaluations,
            "generations": self.generations,
            "seconds": round(self.seconds, 3),
            "hypervolume": self.hypervolume,
            "stopped_by": self.stopped_by,
            "pareto": [c.to_dict() for c in self.pareto],
        }


class Normalizer:
    """Maps objectives to [0, 1] for the hypervolume (reference point 1 in each).

    ``error`` spans [0, 1]; a cost objective spans from its lowest value on the space's
    smallest and largest architectures and :data:`NORMALIZER_SAMPLE` random ones (the
    smallest is not the cheapest: NAS-Bench-201's all-``none`` cell is predicted slower
    than a cell of skip connections) to its budget ceiling, or, without one, to its highest
    value there. A ceiling under that lowest value puts the span's low end at 0. A
    candidate below the low end counts as at it: the figures stay within [0, 1].
    """

    def __init__(
        self,
        objectives: tuple[str, ...],
        budgets: tuple[Budget, ...],
        cheap: CheapMetrics,
    ) -> None:
        space = cheap.space
        rng = np.random.default_rng(0)  # the same span for a run, resumed or not
        archs = [space.smallest(), space.largest()]
        archs += [space.sample(rng) for _ in range(NORMALIZER_SAMPLE)]
        rows = cheap(archs)
        lower, upper = [], []
        for name in objectives:
            if name == "error":
                lower.append(0.0)
                upper.append(1.0)
                continue
            values = [float(row[name]) for row in rows]
            lo, hi = min(values), max(values)
            ceilings = [b.bound for b in budgets if b.metric == name and b.op == "<="]
            if ceilings:
                hi = min(ceilings)
            if hi <= lo:
                lo = min(0.0, hi)
            lower.append(lo)
            upper.append(max(hi, lo * (1 + 1e-9) + 1e-12))
        self.lower = np.array(lower)
        self.upper = np.array(upper)

    def __call__(self, F: np.ndarray) -> np.ndarray:
        return np.maximum((np.asarray(F, float) - self.lower) / (self.upper - self.lower), 0.0)


#: Random architectures (besides the smallest and the largest) whose cheap metrics set
#: where each cost objective's span starts (:class:`Normalizer`).
NORMALIZER_SAMPLE = 255


#: The search stops when this many candidates asked in a row were skipped on cheap budgets
#: with no evaluation between them: a strategy that finds nothing within them would ask
#: for good (seen: 8,582 skipped in 90 s, the progress bar at 0).
MAX_SKIPPED_IN_A_ROW = 2000


def run_search(
    *,
    space: SearchSpace,
    strategy: Strategy,
    executor: Executor,
    cheap: CheapMetrics,
    objectives: tuple[str, ...],
    budgets: tuple[Budget, ...],
    store: RunStore,
    seed: int = 0,
    batch_size: int = 10,
    max_evaluations: int = 100,
    max_seconds: float | None = None,
    hv_patience: int | None = None,
    hv_tolerance: float = 1e-6,
    callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
    progress: bool = False,
    context: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Run (or resume) a search; every evaluated candidate goes to ``store`` once.

    Args:
        space: The search space.
        strategy: A fresh strategy (it is set up here with ``seed``).
        executor: Where accuracy evaluations run.
        cheap: Cheap metrics (costs and predicted latency).
        objectives: Objective names (minimised).
        budgets: Constraints.
        store: The run store; candidates already in it are replayed, not re-evaluated.
        seed: Seeds the strategy.
        batch_size: Architectures asked per step.
        max_evaluations: Accuracy evaluations allowed in total (including stored ones).
        max_seconds: Wall-time limit of the whole search (stored time included).
        hv_patience: Stop after this many steps without hypervolume improvement.
        hv_tolerance: The improvement that counts.
        callbacks: Called after each step with a progress dict.
        progress: Show a progress bar on stderr.
        context: Handed to the strategy as :attr:`Problem.context` (the dataset, for one).

    Returns:
        Evaluations used, the feasible Pareto set, its hypervolume and why the search stopped.
    """
    if batch_size < 1:
        raise ConfigError("batch_size", "an integer >= 1", batch_size)
    if max_evaluations < 1:
        raise ConfigError("termination.evaluations", "an integer >= 1", max_evaluations)
    missing = [o for o in objectives if o != "error" and o not in cheap.names]
    missing += [b.metric for b in budgets if b.cheap and b.metric not in cheap.names]
    if missing:
        raise HwnasError(
            f"{missing[0]} is an objective or budget but the run has no model for it "
            "(latency_ms needs a fitted latency predictor for the device)"
        )
    problem = Problem(
        space=space,
        objectives=objectives,
        budgets=budgets,
        cheap=functools.partial(_cheap_values, cheap, objectives, budgets),
        context=dict(context or {}),
    )
    strategy.setup(problem, seed)
    identity = {
        "strategy": strategy.name,
        "options": strategy.options,
        "seed": seed,
        "objectives": list(objectives),
        "budgets": [str(b) for b in budgets],
    }
    loop = load_state(strategy, store, identity, problem, seed)
    normalizer = Normalizer(objectives, budgets, cheap)
    history = {c.arch: c for c in store.candidates()}
    previous_seconds = max((p["seconds"] for p in store.progress()), default=0.0)
    started = time.perf_counter()
    evaluations = sum(1 for c in history.values() if c.status in ("done", "failed"))
    generation, told_total = loop["generation"] + 1, loop["told"]
    best_hv, stale = loop["best_hv"], loop["stale"]
    stopped_by = "evaluations"
    skipped_in_a_row = 0
    rows: list[dict[str, Any]] = []
    bar = progress_bar(progress)
    with maybe(bar):
        task = (
            bar.add_task("search", total=max_evaluations, completed=evaluations)
            if bar is not None
            else None
        )
        while True:
            elapsed = previous_seconds + time.perf_counter() - started
            if evaluations >= max_evaluations:
                stopped_by = "evaluations"
                break
            if max_seconds is not None and elapsed >= max_seconds:
                stopped_by = "time"
                break
            archs = strategy.ask(batch_size)
            if not archs:
                # The space is exhausted, or the strategy is done (differentiable: its
                # sweep of latency targets derived all it will).
                stopped_by = "strategy done (asked for nothing more)"
                break
            candidates = _evaluate_batch(
                archs,
                history,
                cheap,
                budgets,
                executor,
                store,
                space,
                generation,
                max_evaluations - evaluations,
            )
            before, evaluations = (
                evaluations,
                sum(1 for c in history.values() if c.status in ("done", "failed")),
            )
            skipped = sum(1 for c in candidates if c is not None and c.status == "skipped")
            skipped_in_a_row = 0 if evaluations > before else skipped_in_a_row + skipped
            told = [(a, c) for a, c in zip(archs, candidates, strict=True) if c is not None]
            if told:
                values = [_told_values(c, objectives, budgets) for _, c in told]
                F = np.array([f for f, _ in values]).reshape(len(told), len(objectives))
                G = np.array([g for _, g in values]).reshape(len(told), len(budgets))
                strategy.tell([a for a, _ in told], F, G, [Status(c.status) for _, c in told])
                told_total += len(told)
            hv = _hypervolume(history.values(), objectives, budgets, normalizer)
            elapsed = previous_seconds + time.perf_counter() - started
            store.add_progress(generation, evaluations, hv, elapsed)
            row = {
                "generation": generation,
                "evaluations": evaluations,
                "hypervolume": hv,
                "seconds": elapsed,
                **strategy.state(),
            }
            rows.append(row)
            for callback in callbacks:
                callback(row)
            if bar is not None and task is not None:
                bar.update(task, completed=evaluations, description=f"search hv={hv:.4f}")
            generation += 1
            if hv > best_hv + hv_tolerance:
                best_hv, stale = hv, 0
            else:
                stale += 1
            loop = {"generation": generation - 1, "told": told_total}
            save_state(strategy, store, {**identity, **loop, "best_hv": best_hv, "stale": stale})
            if hv_patience is not None and stale >= hv_patience:
                stopped_by = "hypervolume stagnation"
                break
            if len(told) < len(archs):  # the evaluation budget ran out inside this batch
                stopped_by = "evaluations"
                break
            if skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
                stopped_by = (
                    f"{skipped_in_a_row} candidates asked in a row broke a cheap budget "
                    "(predicted latency, MACs or parameters): none left to evaluate"
                )
                break
    done = [c for c in history.values() if c.status == "done"]
    pareto = pareto_front(done, objectives, budgets)
    return SearchResult(
        evaluations=evaluations,
        generations=generation,
        seconds=previous_seconds + time.perf_counter() - started,
        hypervolume=_hypervolume(history.values(), objectives, budgets, normalizer),
        pareto=pareto,
        stopped_by=stopped_by,
        history=rows,
    )


def _evaluate_batch(
    archs: Sequence[Arch],
    history: dict[str, Candidate],
    cheap: CheapMetrics,
    budgets: tuple[Budget, ...],
    executor: Executor,
    store: RunStore,
    space: SearchSpace,
    generation: int,
    remaining: int,
) -> list[Candidate | None]:
    """Candidates for ``archs``: from history, skipped on cheap budgets, or evaluated.

    ``None`` marks an architecture left unevaluated because the budget ran out.
    """
    out: list[Candidate | None] = [None] * len(archs)
    new = [i for i, a in enumerate(archs) if str(a) not in history]
    cheap_rows = dict(zip(new, cheap([archs[i] for i in new]), strict=True))
    to_evaluate: list[int] = []
    for i, arch in enumerate(archs):
        key = str(arch)
        if key in history:
            out[i] = history[key]
            continue
        row = cheap_rows[i]
        broken = [b for b in budgets if b.cheap and not b.met(metric_value(row, b.metric))]
        if broken:
            candidate = Candidate(
                arch=key,
                encoding=space.encode(arch),
                status="skipped",
                metrics=row,
                info={"reason": "breaks " + ", ".join(str(b) for b in broken)},
                generation=generation,
            )
            _record(store, history, candidate)
            out[i] = candidate
        elif key not in {str(archs[j]) for j in to_evaluate}:
            to_evaluate.append(i)
    to_evaluate = to_evaluate[: max(0, remaining)]
    batch = [archs[i] for i in to_evaluate]
    for position, outcome in executor.run(batch):
        i = to_evaluate[position]
        metrics = dict(cheap_rows[i])
        if isinstance(outcome, EvalResult):
            metrics.update(outcome.metrics)
            metrics["error"] = 1.0 - float(outcome.metrics["accuracy"])
            candidate = Candidate(
                arch=str(archs[i]),
                encoding=space.encode(archs[i]),
                status="done",
                metrics=metrics,
                cost_seconds=outcome.cost_seconds,
                info=outcome.info,
                generation=generation,
            )
        else:
            assert isinstance(outcome, EvalFailure)
            candidate = Candidate(
                arch=str(archs[i]),
                encoding=space.encode(archs[i]),
                status="failed",
                metrics=metrics,
                info=outcome.to_dict(),
                generation=generation,
            )
        _record(store, history, candidate)
    for i, arch in enumerate(archs):
        if out[i] is None and str(arch) in history:
            out[i] = history[str(arch)]
    return out


def _cheap_values(
    cheap: CheapMetrics,
    objectives: tuple[str, ...],
    budgets: tuple[Budget, ...],
    archs: Sequence[Arch],
) -> tuple[np.ndarray, np.ndarray]:
    """Objective and constraint values known without evaluation (``nan`` elsewhere)."""
    rows = cheap(archs)
    F = np.array([[row.get(o, np.nan) for o in objectives] for row in rows], dtype=float).reshape(
        len(rows), len(objectives)
    )
    G = np.array(
        [[b.violation(row[b.metric]) if b.cheap else np.nan for b in budgets] for row in rows],
        dtype=float,
    ).reshape(len(rows), len(budgets))
    return F, G


def _record(store: RunStore, history: dict[str, Candidate], candidate: Candidate) -> None:
    store.add(candidate)
    history[candidate.arch] = candidate


def _told_values(
    candidate: Candidate, objectives: tuple[str, ...], budgets: tuple[Budget, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """What the strategy is told of ``candidate``: every value when it was evaluated, the
    cheap ones (``nan`` for those that need an evaluation) when it failed or was skipped."""
    if candidate.status == Status.EVALUATED.value:
        F, G = candidate_values([candidate], objectives, budgets)
        return F[0], G[0]
    metrics = candidate.metrics

    def known(name: str) -> float:
        return metric_value(metrics, name) if METRICS[name] else np.nan

    F = np.array([known(o) for o in objectives], dtype=float)
    G = np.array(
        [b.violation(known(b.metric)) if b.cheap else np.nan for b in budgets], dtype=float
    )
    return F, G


def _hypervolume(
    candidates: Any,
    objectives: tuple[str, ...],
    budgets: tuple[Budget, ...],
    normalizer: Normalizer,
) -> float:
    done = [c for c in candidates if c.status == "done"]
    if not done:
        return 0.0
    F, G = candidate_values(done, objectives, budgets)
    feasible = violation(G) <= 0
    if not feasible.any():
        return 0.0
    return hypervolume(normalizer(F[feasible]), np.ones(len(objectives)))
