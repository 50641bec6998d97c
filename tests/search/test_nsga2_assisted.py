"""``nsga2`` with an accuracy predictor in the loop (``predictor="gp"``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwnas.errors import ConfigError
from hwnas.executors import InlineExecutor
from hwnas.objectives import parse_budget
from hwnas.search import CheapMetrics, run_search
from hwnas.spaces import NB201Space
from hwnas.store import RunStore
from hwnas.strategies import Problem, Status, create_strategy

from .toy import ToyEvaluator

SPACE = NB201Space()
CHEAP = CheapMetrics(SPACE, (3, 32, 32), 10)
FAST = {"population": 10, "predictor": "gp", "inner_generations": 8, "inner_population": 30}


def _toy_error(archs) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([1.0 - ToyEvaluator(SPACE).evaluate(a).metrics["accuracy"] for a in archs])


def _search(tmp_path, options: dict, seed: int, budgets=()):  # type: ignore[no-untyped-def]
    with RunStore(tmp_path / f"{seed}-{len(options)}.db") as store:
        return run_search(
            space=SPACE,
            strategy=create_strategy("nsga2", **options),
            executor=InlineExecutor(lambda: ToyEvaluator(SPACE)),
            cheap=CHEAP,
            objectives=("error", "macs"),
            budgets=budgets,
            store=store,
            seed=seed,
            batch_size=10,
            max_evaluations=50,
        )


def test_the_predictor_finds_a_better_front_than_plain_nsga2_on_the_same_budget(tmp_path) -> None:
    # Measured: hypervolume 0.556 against 0.510 on average, higher on 4 of the 6 seeds.
    plain = [_search(tmp_path, {"population": 10}, seed).hypervolume for seed in range(6)]
    assisted = [_search(tmp_path, FAST, seed).hypervolume for seed in range(6)]
    assert np.mean(assisted) > 1.05 * np.mean(plain)
    assert sum(a > p for a, p in zip(assisted, plain, strict=True)) >= 4


def test_asks_are_new_and_meet_the_cheap_budget(tmp_path) -> None:
    budget = parse_budget("macs <= 40e6")
    strategy = create_strategy("nsga2", **FAST)
    problem = Problem(SPACE, ("error", "macs"), (budget,), cheap=_cheap(budget))
    strategy.setup(problem, seed=0)
    asked: list = []
    for step in range(5):
        archs = strategy.ask(10)
        assert len(archs) == 10 and not set(archs) & set(asked)
        F, G = problem.cheap(archs)  # type: ignore[misc]
        if step >= 1:  # after the random initial population: predicted picks
            assert (G <= 0).all()
        F[:, 0] = _toy_error(archs)
        strategy.tell(archs, F, G, [Status.EVALUATED] * len(archs))
        asked += archs


def _cheap(budget):  # type: ignore[no-untyped-def]
    def cheap(archs):  # type: ignore[no-untyped-def]
        macs = np.array([row["macs"] for row in CHEAP(archs)])
        F = np.c_[np.full(len(archs), np.nan), macs]
        return F, np.array([[budget.violation(m)] for m in macs])

    return cheap


def test_the_state_loads_into_a_fresh_strategy_that_asks_the_same() -> None:
    budget = parse_budget("macs <= 60e6")
    problem = Problem(SPACE, ("error", "macs"), (budget,), cheap=_cheap(budget))
    original = create_strategy("nsga2", **FAST)
    original.setup(problem, seed=2)
    for _ in range(3):
        archs = original.ask(10)
        F, G = problem.cheap(archs)  # type: ignore[misc]
        F[:, 0] = _toy_error(archs)
        original.tell(archs, F, G, [Status.EVALUATED] * 10)
    text = json.dumps(original.state_dict(), allow_nan=False)
    copy = create_strategy("nsga2", **FAST)
    copy.setup(problem, seed=0)
    copy.load_state_dict(json.loads(text))
    assert copy.ask(10) == original.ask(10)


def test_default_is_plain_nsga2_without_state() -> None:
    strategy = create_strategy("nsga2")
    assert strategy.options["predictor"] == "none"
    strategy.setup(Problem(SPACE, ("error", "macs")), seed=0)
    assert strategy.state_dict() is None


@pytest.mark.parametrize(
    "options", [{"predictor": "mlp"}, {"inner_generations": 0}, {"inner_population": 2}]
)
def test_bad_predictor_options_are_named(options) -> None:
    with pytest.raises(ConfigError, match=f"strategy.{next(iter(options))}"):
        create_strategy("nsga2", **options)
