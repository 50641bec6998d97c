"""Failed and skipped candidates reach strategies as a status, never as a sentinel value."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas import search
from hwnas.errors import ConfigError
from hwnas.executors import InlineExecutor
from hwnas.objectives import parse_budget
from hwnas.search import CheapMetrics, run_search
from hwnas.spaces import NB201Space
from hwnas.store import RunStore
from hwnas.strategies import Problem, Status, create_strategy, list_strategies
from hwnas.strategies.base import worst_case
from hwnas.strategies.random import RandomSearch

from .toy import ToyEvaluator

SPACE = NB201Space()
BUDGETS = (parse_budget("macs <= 60e6"), parse_budget("accuracy >= 0.5"))
FAILS_ON = "avg_pool_3x3~0"


class Recording(RandomSearch):
    """Random search that keeps everything it is told."""

    def _setup(self) -> None:
        super()._setup()
        self.told: list[tuple[str, np.ndarray, np.ndarray, Status]] = []

    def _tell(self, archs, F, G, status) -> None:  # type: ignore[no-untyped-def]
        super()._tell(archs, F, G, status)
        self.told += [(str(a), f, g, s) for a, f, g, s in zip(archs, F, G, status, strict=True)]

    def state_dict(self) -> None:
        # Records what a replay tells it: resumed by replay, not from random search's state.
        return None


def _search(store: RunStore, strategy, evaluations: int = 40):  # type: ignore[no-untyped-def]
    return run_search(
        space=SPACE,
        strategy=strategy,
        executor=InlineExecutor(lambda: ToyEvaluator(SPACE, fail_on=FAILS_ON), retries=0),
        cheap=CheapMetrics(SPACE, (3, 32, 32), 10),
        objectives=("error", "macs"),
        budgets=BUDGETS,
        store=store,
        seed=0,
        batch_size=10,
        max_evaluations=evaluations,
    )


def test_a_failed_candidate_reaches_tell_as_failed_with_its_cheap_values_only(tmp_path) -> None:
    strategy = Recording()
    with RunStore(tmp_path / "run.db") as store:
        _search(store, strategy)
        stored = {c.arch: c for c in store.candidates()}
    by_status = {s: [t for t in strategy.told if t[3] is s] for s in Status}
    assert by_status[Status.FAILED] and by_status[Status.SKIPPED] and by_status[Status.EVALUATED]
    assert len(strategy.told) == len(stored)
    for arch, f, g, status in strategy.told:
        candidate = stored[arch]
        assert status.value == candidate.status
        if status is not Status.SKIPPED:
            assert (status is Status.FAILED) == (FAILS_ON in arch)
        assert f[1] == candidate.metrics["macs"]  # cheap values are known in every case
        assert g[0] == pytest.approx(candidate.metrics["macs"] - 60e6)
        if status is Status.EVALUATED:
            assert f[0] == pytest.approx(1 - candidate.metrics["accuracy"])
            assert g[1] == pytest.approx(0.5 - candidate.metrics["accuracy"])
        else:  # no accuracy: unknown, not a made-up number
            assert np.isnan(f[0]) and np.isnan(g[1])
    assert not hasattr(search, "FAILED_VIOLATION")


def test_a_resumed_search_tells_the_same_statuses(tmp_path) -> None:
    straight = Recording()
    with RunStore(tmp_path / "straight.db") as store:
        _search(store, straight)
    with RunStore(tmp_path / "resumed.db") as store:
        _search(store, Recording(), evaluations=20)
    resumed = Recording()
    with RunStore(tmp_path / "resumed.db") as store:
        _search(store, resumed)

    def key(told):  # type: ignore[no-untyped-def]
        return [
            (a, s, tuple(np.nan_to_num(f, nan=-1)), tuple(np.nan_to_num(g, nan=-1)))
            for a, f, g, s in told
        ]

    assert key(resumed.told) == key(straight.told)


@pytest.mark.parametrize("name", sorted(list_strategies()))
def test_every_strategy_accepts_failed_and_skipped_candidates(name: str) -> None:
    cheap = CheapMetrics(SPACE, (3, 32, 32), 10)
    options = {"initial": 5} if name == "surrogate-ehvi" else {}
    if name in ("nsga2", "evolution"):
        options = {"population": 6}
    strategy = create_strategy(name, **options)

    def cheap_values(archs):  # type: ignore[no-untyped-def]
        macs = np.array([row["macs"] for row in cheap(archs)])
        return np.c_[np.full(len(macs), np.nan), macs], np.c_[macs - 60e6, np.nan * macs]

    problem = Problem(SPACE, ("error", "macs"), BUDGETS, cheap_values)
    if name == "differentiable":
        # It needs latency and a dataset (its tell only records statuses; its own tests run
        # it end to end): here it must refuse the problem with a clean error.
        with pytest.raises(ConfigError, match="latency_ms"):
            strategy.setup(problem, seed=0)
        return
    strategy.setup(problem, seed=0)
    failed = set()
    for _ in range(6):
        archs = strategy.ask(6)
        assert archs
        macs = np.array([row["macs"] for row in cheap(archs)])
        accuracy = np.array([ToyEvaluator(SPACE).evaluate(a).metrics["accuracy"] for a in archs])
        status = [
            Status.SKIPPED if m > 60e6 else Status.FAILED if i % 3 == 0 else Status.EVALUATED
            for i, m in enumerate(macs)
        ]
        evaluated = np.array([s is Status.EVALUATED for s in status])
        F = np.c_[np.where(evaluated, 1 - accuracy, np.nan), macs]
        G = np.c_[macs - 60e6, np.where(evaluated, 0.5 - accuracy, np.nan)]
        strategy.tell(archs, F, G, status)
        failed |= {a for a, s in zip(archs, status, strict=True) if s is Status.FAILED}
    assert failed


def test_tell_needs_one_status_per_architecture() -> None:
    strategy = create_strategy("random")
    strategy.setup(Problem(SPACE, ("macs",)), seed=0)
    archs = strategy.ask(2)
    with pytest.raises(ValueError, match="statuses"):
        strategy.tell(archs, np.ones((2, 1)), np.zeros((2, 0)), [Status.EVALUATED])


def test_worst_case_fills_unknown_accuracy_and_makes_failures_lose() -> None:
    problem = Problem(SPACE, ("error", "macs"), budgets=BUDGETS)
    assert problem.n_constraints == 2
    F = np.array([[0.2, 5e6], [np.nan, 7e7], [np.nan, 5e6]])
    G = np.array([[-1e6, 0.3], [1e7, np.nan], [-1e6, np.nan]])
    status = [Status.EVALUATED, Status.SKIPPED, Status.FAILED]
    F2, G2 = worst_case(problem, F, G, status)
    assert F2.tolist() == [[0.2, 5e6], [1.0, 7e7], [1.0, 5e6]]
    assert G2[:, :2].tolist() == [[-1e6, 0.3], [1e7, 0.5], [-1e6, 0.5]]
    assert G2[:, 2].tolist() == [0.0, 0.0, np.inf]  # failures lose to everything measured
    assert np.isnan(F).sum() == 2  # the inputs are left as they were


def test_worst_case_refuses_an_unknown_cheap_value() -> None:
    problem = Problem(SPACE, ("error", "macs"))
    with pytest.raises(ValueError, match="macs"):
        worst_case(problem, np.array([[np.nan, np.nan]]), np.zeros((1, 0)), [Status.FAILED])
