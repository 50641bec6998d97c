"""Every strategy behind the one interface: known optima, determinism, constraints."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas.errors import ConfigError
from hwnas.evaluators import TabularEvaluator
from hwnas.executors import InlineExecutor
from hwnas.objectives import parse_budget
from hwnas.search import CheapMetrics, run_search
from hwnas.spaces import NB201Space
from hwnas.store import RunStore
from hwnas.strategies import Problem, Status, create_strategy, list_strategies

from .toy import SMALL, ToyEvaluator


def test_registry() -> None:
    assert {"nsga2", "evolution", "random"} <= set(list_strategies())
    with pytest.raises(ConfigError, match="strategy"):
        create_strategy("simulated-annealing")


@pytest.mark.parametrize("name", ["nsga2", "evolution", "random"])
def test_each_strategy_finds_the_known_optimum_of_a_toy_problem(name: str) -> None:
    """Minimise MACs in a 400-architecture space: the optimum is the smallest model."""
    space = SMALL
    assert space.size() == 400
    cheap = CheapMetrics(space, (1, 8, 8), 10)
    strategy = create_strategy(name)
    strategy.setup(Problem(space, ("macs",)), seed=0)
    best = np.inf
    for _ in range(25):
        archs = strategy.ask(10)
        F = np.array([[row["macs"]] for row in cheap(archs)])
        strategy.tell(archs, F, np.zeros((len(archs), 0)), [Status.EVALUATED] * len(archs))
        best = min(best, F.min())
    assert best == cheap([space.smallest()])[0]["macs"]


@pytest.mark.parametrize("name", ["nsga2", "evolution", "random"])
def test_same_seed_same_search(name: str, tmp_path) -> None:
    space = NB201Space()
    results = []
    for i in range(2):
        with RunStore(tmp_path / f"{i}.db") as store:
            run_search(
                space=space,
                strategy=create_strategy(name),
                executor=InlineExecutor(lambda: TabularEvaluator(space)),
                cheap=CheapMetrics(space, (3, 32, 32), 10),
                objectives=("error", "macs"),
                budgets=(),
                store=store,
                seed=3,
                batch_size=10,
                max_evaluations=40,
            )
            results.append([c.arch for c in store.candidates()])
    assert results[0] == results[1] and len(results[0]) == 40


def test_guided_strategies_beat_random_on_the_benchmark_table(tmp_path) -> None:
    space = NB201Space()
    hv = {}
    for name in ("nsga2", "evolution", "random"):
        values = []
        for seed in range(3):
            with RunStore(tmp_path / f"{name}{seed}.db") as store:
                result = run_search(
                    space=space,
                    strategy=create_strategy(name),
                    executor=InlineExecutor(lambda: TabularEvaluator(space)),
                    cheap=CheapMetrics(space, (3, 32, 32), 10),
                    objectives=("error", "macs"),
                    budgets=(),
                    store=store,
                    seed=seed,
                    batch_size=20,
                    max_evaluations=300,
                )
            values.append(result.hypervolume)
        hv[name] = float(np.mean(values))
    assert hv["nsga2"] > hv["random"]
    assert hv["evolution"] > hv["random"]


def test_budgets_are_constraints_and_cheap_violations_are_not_evaluated(tmp_path) -> None:
    space = NB201Space()
    budgets = (parse_budget("macs <= 60e6"), parse_budget("accuracy >= 0.5"))
    evaluated = []

    class Counting(ToyEvaluator):
        def evaluate(self, arch):  # type: ignore[no-untyped-def]
            evaluated.append(arch)
            return super().evaluate(arch)

    with RunStore(tmp_path / "run.db") as store:
        result = run_search(
            space=space,
            strategy=create_strategy("nsga2", population=10),
            executor=InlineExecutor(lambda: Counting(space)),
            cheap=CheapMetrics(space, (3, 32, 32), 10),
            objectives=("error", "macs"),
            budgets=budgets,
            store=store,
            seed=0,
            batch_size=10,
            max_evaluations=60,
        )
        skipped = store.candidates("skipped")
    assert skipped, "some sampled architectures exceed 60 M MACs"
    assert all(c.metrics["macs"] > 60e6 for c in skipped)
    assert all(c.arch not in {str(a) for a in evaluated} for c in skipped)
    assert result.evaluations == len(evaluated) == 60
    assert result.pareto
    for c in result.pareto:
        assert c.metrics["macs"] <= 60e6 and c.metrics["accuracy"] >= 0.5


@pytest.mark.parametrize(
    ("name", "options", "field"),
    [
        ("nsga2", {"population": 1}, "strategy.population"),
        ("nsga2", {"population": 20.0}, "strategy.population"),
        ("nsga2", {"mutation_prob": 1.5}, "strategy.mutation_prob"),
        ("nsga2", {"offspring": 0}, "strategy.offspring"),
        ("evolution", {"sample": 30}, "strategy.sample"),
        ("evolution", {"population": True}, "strategy.population"),
        ("surrogate-ehvi", {"initial": 1}, "strategy.initial"),
        ("surrogate-ehvi", {"transform": "sqrt"}, "strategy.transform"),
        ("surrogate-ehvi", {"cheap_features": 1}, "strategy.cheap_features"),
    ],
)
def test_bad_options_name_the_field(name: str, options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}: expected"):
        create_strategy(name, **options)


def test_unknown_options_are_type_errors_and_good_ones_are_stored() -> None:
    with pytest.raises(TypeError, match="populaton"):
        create_strategy("nsga2", populaton=8)
    strategy = create_strategy("surrogate-ehvi", kappa=1, pond=0.5, initial=4)
    assert (strategy.kappa, strategy.pond, strategy.initial) == (1.0, 0.5, 4)
    assert isinstance(strategy.kappa, float)
