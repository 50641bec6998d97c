"""The ``rl`` strategy: it learns, its rewards are the published formulas, it never asks
what breaks a cheap budget, and it is deterministic and restorable for a seed."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import numpy as np
import pytest

from hwnas.errors import ConfigError
from hwnas.executors import InlineExecutor
from hwnas.objectives import parse_budget
from hwnas.search import CheapMetrics, run_search
from hwnas.spaces import Arch, NB201Space
from hwnas.store import RunStore
from hwnas.strategies import Problem, Status, Strategy, create_strategy
from hwnas.strategies.rl import reward_value

from .toy import ToyEvaluator

SPACE = NB201Space()
CONTROLLERS = [{"controller": "logits"}, {"controller": "lstm"}]


def fake_latency(archs: Sequence[Arch]) -> np.ndarray:
    """A cheap latency in ms: the sum of the encoding (0 to 24)."""
    return np.array([float(sum(SPACE.encode(a))) for a in archs])


def cheap_with_ceiling(ceiling: float):
    """``problem.cheap`` for objectives (error, latency_ms) and ``latency_ms <= ceiling``."""

    def cheap(archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        lat = fake_latency(archs)
        return np.c_[np.full(len(archs), np.nan), lat], (lat - ceiling)[:, None]

    return cheap


def share_of_choice(arch: Arch, choice: int = 3) -> float:
    """A separable toy accuracy: the share of decisions set to ``choice``."""
    return float(np.mean(np.array(SPACE.encode(arch)) == choice))


def steps(strategy: Strategy, k: int, accuracy=share_of_choice, n: int = 10) -> list[list[Arch]]:
    """``k`` ask/tell steps on objectives (error, latency_ms) or (error,); the asks."""
    problem = strategy.problem
    asked = []
    for _ in range(k):
        archs = strategy.ask(n)
        err = np.array([1.0 - accuracy(a) for a in archs])
        F = np.c_[err, fake_latency(archs)][:, : problem.n_objectives]
        G = (fake_latency(archs)[:, None] - [b.bound for b in problem.budgets]).reshape(
            len(archs), problem.n_constraints
        )
        strategy.tell(archs, F, G, [Status.EVALUATED] * len(archs))
        asked.append(archs)
    return asked


def test_rewards_are_the_published_formulas() -> None:
    a, c, T = np.array([0.9, 0.9]), np.array([2.0, 0.5]), 1.0
    np.testing.assert_allclose(reward_value("accuracy", a, c, T), [0.9, 0.9])
    # MnasNet soft: 0.9 * 2^-0.07 and 0.9 * 0.5^-0.07.
    np.testing.assert_allclose(reward_value("mnas-soft", a, c, T), [0.857374, 0.944745], 1e-5)
    # MnasNet hard: no gain under the target, w = -1 over it.
    np.testing.assert_allclose(reward_value("mnas-hard", a, c, T), [0.45, 0.9])
    # TuNAS absolute: 0.9 - 0.1 * |2 - 1| and 0.9 - 0.1 * |0.5 - 1|.
    np.testing.assert_allclose(reward_value("tunas", a, c, T), [0.8, 0.85])
    with pytest.raises(ValueError):
        reward_value("mnas", a, c, T)


@pytest.mark.parametrize("options", CONTROLLERS, ids=lambda o: o["controller"])
def test_the_controller_learns_a_separable_reward_far_beyond_random(options) -> None:
    means = {}
    for name, opts in (("rl", options), ("random", {})):
        strategy = create_strategy(name, **opts)
        strategy.setup(Problem(SPACE, ("error",)), seed=0)
        asked = steps(strategy, 20)
        means[name] = np.mean([share_of_choice(a) for archs in asked[-5:] for a in archs])
    # Random search stays near 1/5; the controller's asks concentrate on choice 3.
    assert means["random"] < 0.3
    assert means["rl"] > max(0.4, 2 * means["random"])


def test_model_based_updates_learn_in_fewer_queries() -> None:
    """``imagined`` updates against an error model fitted on the evaluated architectures
    move the policy between tells: the third to fifth asks already concentrate."""
    share = {}
    for imagined in (0, 10):
        strategy = create_strategy("rl", imagined=imagined)
        strategy.setup(Problem(SPACE, ("error",)), seed=0)
        asked = steps(strategy, 5)
        share[imagined] = np.mean([share_of_choice(a) for archs in asked[2:] for a in archs])
    assert share[10] > max(0.5, share[0] + 0.15)
    with pytest.raises(ConfigError, match=r"strategy\.imagined"):
        create_strategy("rl", imagined=5).setup(
            Problem(SPACE, ("latency_ms",), cheap=cheap_with_ceiling(np.inf)), seed=0
        )


def test_pareto_targets_reach_down_to_the_cheapest_architecture() -> None:
    """The cheapest architecture (cost 1: every decision at choice 0) is far below random
    ones (1 + a sum of six draws from 0-4); the lowest target reaches it, so that the
    front's cheap end is asked for."""

    def cheap(archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        return np.c_[np.full(len(archs), np.nan), 1.0 + fake_latency(archs)], np.empty(
            (len(archs), 0)
        )

    strategy = create_strategy("rl")
    strategy.setup(Problem(SPACE, ("error", "latency_ms"), cheap=cheap), seed=0)
    lo, hi = np.exp(strategy._range)
    assert lo == pytest.approx(1.0)
    assert 18 < hi <= 25


@pytest.mark.parametrize("reward", ["auto", "mnas-soft", "mnas-hard", "tunas", "accuracy"])
def test_no_asked_candidate_breaks_the_cheap_ceiling(reward: str) -> None:
    strategy = create_strategy("rl", reward=reward)
    problem = Problem(
        SPACE,
        ("error", "latency_ms"),
        budgets=(parse_budget("latency_ms <= 8"),),
        cheap=cheap_with_ceiling(8.0),
    )
    strategy.setup(problem, seed=1)
    asked = [a for archs in steps(strategy, 10) for a in archs]
    assert len(asked) == 100 == len(set(asked))
    assert fake_latency(asked).max() <= 8.0
    # Most of the space (latency up to 24) is over the ceiling: the controller learned from
    # the samples it screened out, at no query.
    assert sum(1 for acc, _ in strategy._known.values() if acc == 0.0) > 0


def test_same_seed_same_asks_and_another_seed_others() -> None:
    runs = []
    for seed in (5, 5, 6):
        strategy = create_strategy("rl", controller="lstm")
        strategy.setup(Problem(SPACE, ("error",)), seed=seed)
        runs.append(steps(strategy, 4))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.parametrize("options", CONTROLLERS, ids=lambda o: o["controller"])
def test_a_restored_state_dict_continues_exactly(options) -> None:
    problem = Problem(SPACE, ("error", "latency_ms"), cheap=cheap_with_ceiling(np.inf))
    saved = create_strategy("rl", **options)
    saved.setup(problem, seed=2)
    steps(saved, 5)
    state = json.loads(json.dumps(saved.state_dict(), allow_nan=False))  # plain JSON
    restored = create_strategy("rl", **options)
    restored.setup(problem, seed=99)  # the generator's state comes from the state dict
    restored.load_state_dict(state)
    assert steps(restored, 5) == steps(saved, 5)


def test_bad_options_name_the_option() -> None:
    with pytest.raises(ConfigError, match=r"strategy\.learning_rate"):
        create_strategy("rl", learning_rate=-0.1)
    with pytest.raises(ConfigError, match=r"strategy\.controller"):
        create_strategy("rl", controller="gru")
    with pytest.raises(ConfigError, match=r"strategy\.reward"):
        create_strategy("rl", reward="mnas")
    # A formula with a target needs one: the option or a latency budget.
    strategy = create_strategy("rl", reward="tunas")
    with pytest.raises(ConfigError, match=r"strategy\.target"):
        strategy.setup(Problem(SPACE, ("error", "latency_ms")), seed=0)


def test_warm_start_loads_an_earlier_controller(tmp_path) -> None:
    earlier = create_strategy("rl")
    earlier.setup(Problem(SPACE, ("error",)), seed=0)
    steps(earlier, 15)
    path = tmp_path / "rl.json"
    path.write_text(json.dumps(earlier.state_dict()))
    warm = create_strategy("rl", warm_start=str(path))
    warm.setup(Problem(SPACE, ("error",)), seed=1)
    first = warm.ask(10)
    assert np.mean([share_of_choice(a) for a in first]) > 0.4  # random: about 0.2
    with pytest.raises(ConfigError, match=r"strategy\.warm_start"):
        create_strategy("rl", controller="lstm", warm_start=str(path)).setup(
            Problem(SPACE, ("error",)), seed=0
        )


def test_a_search_through_the_loop_meets_the_budget_and_asks_nothing_twice(tmp_path) -> None:
    cheap = CheapMetrics(SPACE, (3, 32, 32), 10)
    budget = parse_budget("macs <= 60e6")
    with RunStore(tmp_path / "rl.db") as store:
        result = run_search(
            space=SPACE,
            strategy=create_strategy("rl"),
            executor=InlineExecutor(lambda: ToyEvaluator(SPACE)),
            cheap=cheap,
            objectives=("error", "macs"),
            budgets=(budget,),
            store=store,
            seed=0,
            batch_size=10,
            max_evaluations=60,
        )
        candidates = store.candidates()
    assert result.evaluations == 60
    assert len(candidates) == 60 == len({c.arch for c in candidates})
    assert all(c.status == "done" and c.metrics["macs"] <= 60e6 for c in candidates)
    # The best toy accuracy under the budget, by brute force over the whole space: 0.5.
    everything = [SPACE.decode(e) for e in itertools.product(range(5), repeat=6)]
    best = max(
        ToyEvaluator(SPACE).evaluate(a).metrics["accuracy"]
        for a, row in zip(everything, cheap(everything), strict=True)
        if row["macs"] <= 60e6
    )
    assert max(1 - c.metrics["error"] for c in candidates) == best
