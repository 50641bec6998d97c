"""Strategy state in the run store: a resume loads it instead of replaying, and gives the
same search as an uninterrupted run (and so does a replay)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.evaluators.base import EvalResult
from hwnas.executors import InlineExecutor
from hwnas.objectives import parse_budget
from hwnas.search import CheapMetrics, SearchResult, run_search
from hwnas.spaces import NB201Space
from hwnas.store import RunStore
from hwnas.strategies import Problem, Status, Strategy, create_strategy
from hwnas.strategies.base import StateError

from .toy import ToyEvaluator

SPACE = NB201Space()
# The MACs ceiling skips some candidates and ``fail_on`` fails others: the state holds
# rows with unknown (nan) values too.
BUDGETS = (parse_budget("macs <= 60e6"), parse_budget("accuracy >= 0.3"))
STRATEGIES: dict[str, dict[str, Any]] = {
    "random": {},
    "evolution": {"population": 8, "sample": 3},
    "surrogate-ehvi": {"initial": 8, "pond_after": 16, "pond": 0.5, "pool": 20000},
}


class Killed(BaseException):
    """Stands for ``kill -9``: not an evaluation failure, so nothing catches it."""


class Dying(ToyEvaluator):
    """The toy evaluator, killed at its ``kill_at``-th evaluation (counted per instance)."""

    def __init__(self, kill_at: int | None) -> None:
        super().__init__(SPACE, fail_on="avg_pool_3x3~0")
        self.die_at, self.n = kill_at, 0

    def evaluate(self, arch: Any) -> EvalResult:
        self.n += 1
        if self.die_at is not None and self.n == self.die_at:
            raise Killed
        return super().evaluate(arch)


def _search(store: RunStore, strategy: Strategy, kill_at: int | None = None) -> SearchResult:
    return run_search(
        space=SPACE,
        strategy=strategy,
        executor=InlineExecutor(lambda: Dying(kill_at), retries=0),
        cheap=CheapMetrics(SPACE, (3, 32, 32), 10),
        objectives=("error", "macs"),
        budgets=BUDGETS,
        store=store,
        seed=5,
        batch_size=10,
        max_evaluations=40,
    )


def _counted(strategy: Strategy) -> dict[str, int]:
    """Counts the calls of ``strategy.ask`` / ``tell`` and the architectures told."""
    calls = {"ask": 0, "tell": 0, "told": 0}
    ask, tell = strategy.ask, strategy.tell

    def counting_ask(n: int) -> Any:
        calls["ask"] += 1
        return ask(n)

    def counting_tell(archs: Any, *rest: Any) -> None:
        calls["tell"] += 1
        calls["told"] += len(archs)
        tell(archs, *rest)

    strategy.ask, strategy.tell = counting_ask, counting_tell  # type: ignore[method-assign]
    return calls


def _killed_then_resumed(path: Any, name: str, forget_state: bool = False) -> Any:
    with RunStore(path) as store, pytest.raises(Killed):
        _search(store, create_strategy(name, **STRATEGIES[name]), kill_at=23)
    with RunStore(path) as store:
        before = [c.arch for c in store.candidates()]
        record = store.load_state()
        assert record is not None
        if forget_state:
            store._db.execute("DELETE FROM strategy_state")
    strategy = create_strategy(name, **STRATEGIES[name])
    calls = _counted(strategy)
    with RunStore(path) as store:
        result = _search(store, strategy)
        after = [c.arch for c in store.candidates()]
    assert after[: len(before)] == before  # nothing finished was lost
    return result, after, calls, record


@pytest.fixture(scope="module")
def straight(tmp_path_factory: Any) -> dict[str, Any]:
    out = {}
    for name, options in STRATEGIES.items():
        strategy = create_strategy(name, **options)
        calls = _counted(strategy)
        with RunStore(tmp_path_factory.mktemp(name) / "run.db") as store:
            result = _search(store, strategy)
            out[name] = (result, [c.arch for c in store.candidates()], calls)
    return out


@pytest.mark.parametrize("name", list(STRATEGIES))
@pytest.mark.parametrize("mode", ["state", "replay"])
def test_kill_then_resume_gives_the_uninterrupted_search(tmp_path, straight, name, mode) -> None:
    path = tmp_path / "run.db"
    result, archs, calls, record = _killed_then_resumed(path, name, mode == "replay")
    reference, reference_archs, reference_calls = straight[name]
    assert archs == reference_archs  # same candidates, asked in the same order
    assert [c.arch for c in result.pareto] == [c.arch for c in reference.pareto]
    assert result.hypervolume == reference.hypervolume
    if mode == "state":
        # Only the steps after the saved one are asked and told (the first of them answered
        # in part from the store): none of the history is replayed.
        steps = record["generation"] + 1
        assert record["told"] > 0 and steps >= 2
        assert calls["ask"] == reference_calls["ask"] - steps
        assert calls["told"] == reference_calls["told"] - record["told"]
    else:
        assert calls == reference_calls


def test_a_state_saved_with_other_options_is_set_aside_with_a_warning(tmp_path, straight) -> None:
    path = tmp_path / "run.db"
    with RunStore(path) as store, pytest.raises(Killed):
        _search(store, create_strategy("evolution", population=8, sample=2), kill_at=23)
    with RunStore(path) as store:
        stored = store.count()
    strategy = create_strategy("evolution", **STRATEGIES["evolution"])
    calls = _counted(strategy)
    with RunStore(path) as store, pytest.warns(RuntimeWarning, match="another options"):
        _search(store, strategy)
    # Replayed from the first step: told at least everything stored before (a loaded state
    # would have been told only what came after its step).
    assert calls["told"] >= stored


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r["state"].update(told=5),
        lambda r: r["state"].update(asked=["not an architecture"]),
        lambda r: r["state"].update(models=[[0, {"n_continuous": 1, "theta": "x"}]]),
        lambda r: r.update(stored=10**6),
        lambda r: r.update(generation=None),
    ],
)
def test_a_corrupt_state_is_set_aside_and_the_replay_matches(tmp_path, straight, damage) -> None:
    path = tmp_path / "run.db"
    with RunStore(path) as store, pytest.raises(Killed):
        _search(store, create_strategy("surrogate-ehvi", **STRATEGIES["surrogate-ehvi"]), 23)
    with RunStore(path) as store:
        record = store.load_state()
        assert record is not None
        damage(record)
        store.save_state(record)
    strategy = create_strategy("surrogate-ehvi", **STRATEGIES["surrogate-ehvi"])
    with RunStore(path) as store, pytest.warns(RuntimeWarning, match="replaying"):
        result = _search(store, strategy)
    reference = straight["surrogate-ehvi"][0]
    assert [c.arch for c in result.pareto] == [c.arch for c in reference.pareto]


def test_an_unreadable_record_is_an_hwnas_error(tmp_path) -> None:
    with RunStore(tmp_path / "run.db") as store:
        store._db.execute("INSERT INTO strategy_state VALUES (0, '[1, 2]', 'now')")
        with pytest.raises(HwnasError, match="not a JSON object"):
            store.load_state()


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_state_is_strict_json_and_loads_into_a_fresh_strategy(name) -> None:
    """After a few steps with failed and skipped candidates, a fresh strategy loaded from the
    state asks what the original asks next."""
    problem = Problem(SPACE, ("error", "macs"), BUDGETS[:1])
    original = create_strategy(name, **STRATEGIES[name])
    original.setup(problem, seed=1)
    for _ in range(3):
        archs = original.ask(6)
        n = len(archs)
        status = [Status.EVALUATED, Status.FAILED, Status.SKIPPED] * (n // 3)
        F = np.array([[0.1 + 0.01 * i, 1e6 * (i + 1)] for i in range(n)])
        F[[s is not Status.EVALUATED for s in status], 0] = np.nan
        original.tell(archs, F, np.full((n, 1), -1.0), status)
    text = json.dumps(original.state_dict(), allow_nan=False)
    copy = create_strategy(name, **STRATEGIES[name])
    copy.setup(problem, seed=99)  # the seed is in the state
    copy.load_state_dict(json.loads(text))
    assert copy.ask(6) == original.ask(6)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_load_state_dict_names_the_bad_field(name) -> None:
    strategy = create_strategy(name, **STRATEGIES[name])
    strategy.setup(Problem(SPACE, ("error", "macs")), seed=0)
    good = strategy.state_dict()
    assert good is not None
    with pytest.raises(StateError, match="'rng'"):
        strategy.load_state_dict({**good, "rng": {"bit_generator": "MT19937"}})
    with pytest.raises(StateError, match=r"'seen'|'told'"):
        strategy.load_state_dict({**good, "seen": 3, "told": 3})
    with pytest.raises(StateError):
        strategy.load_state_dict({})


@pytest.mark.parametrize(
    "damage",
    [
        {"F": [[1.0]]},
        {"status": ["done", "exploded"]},
        {"told": ["not an architecture"]},
        {"models": [[0, {"n_continuous": 0, "theta": [1.0]}]]},
        {"unknown": [7]},
        {"shape": [3, 0]},
    ],
)
def test_a_corrupt_surrogate_state_names_its_field(damage) -> None:
    strategy = create_strategy("surrogate-ehvi", **STRATEGIES["surrogate-ehvi"])
    strategy.setup(Problem(SPACE, ("error", "macs")), seed=0)
    archs = strategy.ask(4)
    strategy.tell(archs, np.ones((4, 2)), np.zeros((4, 0)), [Status.EVALUATED] * 4)
    state = strategy.state_dict()
    assert state is not None
    with pytest.raises(StateError, match=repr(next(iter(damage)))):
        strategy.load_state_dict({**state, **damage})


def test_nsga2_keeps_no_state_and_resumes_by_replay(tmp_path) -> None:
    with RunStore(tmp_path / "run.db") as store:
        _search(store, create_strategy("nsga2", population=10))
        assert store.load_state() is None
    strategy = create_strategy("nsga2", population=10)
    strategy.setup(Problem(SPACE, ("error", "macs")), seed=0)
    assert strategy.state_dict() is None
    with pytest.raises(HwnasError, match="replay"):
        strategy.load_state_dict({})


def test_options_are_recorded_with_their_defaults() -> None:
    strategy = create_strategy("evolution", population=8)
    assert strategy.options == {"population": 8, "sample": 5}
