"""The ``differentiable`` strategy: its latency term, gates, repair, sweep and options."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch

from hwnas.costs import count_costs_fast
from hwnas.data import load_dataset
from hwnas.errors import ConfigError
from hwnas.evaluators.supernet import SupernetEvaluator
from hwnas.executors import InlineExecutor
from hwnas.nn.supernet import build_supernet
from hwnas.objectives import parse_budget
from hwnas.search import CheapMetrics, run_search
from hwnas.spaces import ConvNetSpace, NB201Space
from hwnas.store import RunStore
from hwnas.strategies import Problem, create_strategy
from hwnas.strategies.differentiable.latency import fit_linear_latency
from hwnas.strategies.differentiable.relax import hard_gumbel
from hwnas.strategies.differentiable.repair import repair

from .toy import SMALL

#: A small nb201 (one cell per stage, narrow) so that a search takes seconds.
TINY = NB201Space(channels=(8, 16, 16), cells_per_stage=1)
SHAPE, CLASSES = (1, 8, 8), 10


class MacsLatency:
    """A fake device: 2 us plus 10 ns per thousand MACs (additive per operation)."""

    def __init__(self, space: Any) -> None:
        self.space = space

    def predict(self, archs: Any) -> np.ndarray:
        macs = [count_costs_fast(self.space, a, SHAPE, CLASSES).macs for a in archs]
        return 0.002 + 1e-8 * np.array(macs, dtype=float)


def _cheap(space: Any) -> CheapMetrics:
    return CheapMetrics(space, SHAPE, CLASSES, MacsLatency(space))


@pytest.fixture(scope="module")
def digits() -> Any:
    return load_dataset("digits")


def test_expected_latency_is_the_exact_mean_of_the_predictor_on_an_additive_space() -> None:
    space, cheap = TINY, _cheap(TINY)
    rng = np.random.default_rng(0)
    encodings = rng.integers(5, size=(300, 6))
    latency = [r["latency_ms"] for r in cheap([space.decode(e) for e in encodings])]
    model = fit_linear_latency(encodings, np.array(latency), space.n_choices)
    assert model.fit_["r2"] > 0.999 and model.fit_["mape"] < 1e-6
    # Brute force over all 15,625 architectures: the probability-weighted mean of the
    # predictor equals the model's closed-form expectation.
    probs = [rng.dirichlet(np.ones(5)) for _ in range(6)]
    every = np.array(list(itertools.product(range(5), repeat=6)))
    weight = np.prod([probs[d][every[:, d]] for d in range(6)], axis=0)
    truth = MacsLatency(space).predict([space.decode(e) for e in every])
    assert model.expected(probs) == pytest.approx(float(weight @ truth), rel=1e-9)


def test_expected_latency_fit_on_a_non_additive_space_is_reported_on_held_out_archs() -> None:
    space, cheap = SMALL, _cheap(SMALL)
    rng = np.random.default_rng(1)
    encodings = np.stack([rng.integers(n, size=500) for n in space.n_choices], axis=1)
    latency = np.array([r["latency_ms"] for r in cheap([space.decode(e) for e in encodings])])
    model = fit_linear_latency(encodings, latency, space.n_choices)
    fresh = np.stack([rng.integers(n, size=200) for n in space.n_choices], axis=1)
    truth = np.array([r["latency_ms"] for r in cheap([space.decode(e) for e in fresh])])
    error = np.mean(np.abs(model.predict(fresh) - truth) / truth)
    assert model.fit_["n_held_out"] == 100 and model.fit_["r2"] > 0.8
    assert error == pytest.approx(model.fit_["mape"], abs=0.03) and error < 0.1


@pytest.mark.parametrize("space", [TINY, SMALL, ConvNetSpace()], ids=lambda s: s.name)
def test_gates_leave_the_output_unchanged_and_carry_gradients(space: Any) -> None:
    supernet = build_supernet(space, SHAPE, CLASSES, seed=0).eval()
    generator = torch.Generator().manual_seed(0)
    logits = [torch.zeros(n, requires_grad=True) for n in space.n_choices]
    x = torch.randn(4, *SHAPE, generator=generator)
    for _ in range(3):
        encoding, gates = hard_gumbel(logits, 1.0, generator)
        arch = space.decode(encoding)
        plain = supernet(x, arch)
        with supernet.gates(gates):
            gated = supernet(x, arch)
        assert torch.equal(plain, gated)
        assert torch.all(gates.detach() == 1.0)
        gated.square().sum().backward()
    moved = [d for d, a in enumerate(logits) if a.grad is not None and a.grad.abs().sum() > 0]
    assert len(moved) >= 2
    assert supernet(x, arch).equal(plain)  # the gates are gone after the block


def test_repair_meets_the_bound_even_next_to_the_smallest_arch() -> None:
    space, cheap = TINY, _cheap(TINY)
    every = list(itertools.product(range(5), repeat=6))
    rows = cheap([space.decode(e) for e in every])
    latency = {e: r["latency_ms"] for e, r in zip(every, rows, strict=True)}
    lowest = min(latency.values())
    rng = np.random.default_rng(2)
    for bound in (lowest * 1.0001, lowest * 1.5, 0.5 * (lowest + max(latency.values()))):
        for _ in range(5):
            log_probs = [np.log(rng.dirichlet(np.ones(5))) for _ in range(6)]
            start = tuple(int(np.argmax(lp)) for lp in log_probs)

            def violation(encodings: list[tuple[int, ...]], b: float = bound) -> np.ndarray:
                return np.array([max(0.0, latency[e] / b - 1.0) for e in encodings])

            found, moves = repair(start, log_probs, violation)
            assert found is not None and latency[found] <= bound
            assert moves == 0 if latency[start] <= bound else moves > 0
    found, _ = repair((3,) * 6, [np.zeros(5)] * 6, lambda es: np.ones(len(es)))
    assert found is None  # nothing helps: no architecture, never an infeasible one


def _search(
    digits: Any,
    store_path: Any,
    ceiling: float,
    evaluator: type = SupernetEvaluator,
    batch_size: int = 2,
    **options: Any,
) -> tuple[Any, Any]:
    space = TINY
    supernet = build_supernet(space, SHAPE, CLASSES, seed=0)
    strategy = create_strategy(
        "differentiable",
        **{"targets": 3, "epochs": 1, "warmup_epochs": 0, "batch_size": 128,
           "latency_samples": 200, **options},
    )  # fmt: skip
    with RunStore(store_path) as store:
        result = run_search(
            space=space,
            strategy=strategy,
            executor=InlineExecutor(lambda: evaluator(supernet, digits, calib_batches=1)),
            cheap=_cheap(space),
            objectives=("error", "latency_ms"),
            budgets=(parse_budget(f"latency_ms <= {ceiling}"),),
            store=store,
            seed=0,
            batch_size=batch_size,
            max_evaluations=10,
            context={"dataset": digits, "supernet": supernet},
        )
        candidates = store.candidates()
    return strategy, (result, candidates)


def test_a_sweep_derives_archs_under_each_target_ordered_by_latency(digits, tmp_path) -> None:
    cheap = _cheap(TINY)
    low, high = (r["latency_ms"] for r in cheap([TINY.smallest(), TINY.largest()]))
    ceiling = low + 0.6 * (high - low)
    strategy, (result, candidates) = _search(digits, tmp_path / "a.db", ceiling)
    state = strategy.state()
    derived = state["derived"]
    targets = [low + (ceiling - low) * k / 3 for k in (3, 2, 1)]
    assert [e["target_ms"] for e in derived] == pytest.approx(targets)
    assert all(e["latency_ms"] <= e["target_ms"] for e in derived)
    latencies = [e["latency_ms"] for e in derived]
    assert latencies == sorted(latencies, reverse=True)
    # Asked once each, evaluated (never skipped), then the empty ask ended the search.
    assert result.stopped_by == "strategy done (asked for nothing more)"
    assert {c.status for c in candidates} == {"done"}
    assert len(candidates) == len({e["arch"] for e in derived})
    assert all(c.metrics["latency_ms"] <= ceiling for c in candidates)
    assert sum(state["choice_histogram"].values()) == 6 * len(derived)
    assert state["latency_fit"]["r2"] > 0.99
    # Same seed, same search.
    again, _ = _search(digits, tmp_path / "b.db", ceiling)
    assert [e["arch"] for e in again.state()["derived"]] == [e["arch"] for e in derived]


def test_a_ceiling_next_to_the_smallest_arch_is_still_met(digits, tmp_path) -> None:
    low = _cheap(TINY)([TINY.smallest()])[0]["latency_ms"]
    strategy, (_, candidates) = _search(digits, tmp_path / "c.db", low * 1.001, targets=1)
    assert candidates and all(c.metrics["latency_ms"] <= low * 1.001 for c in candidates)
    assert strategy.state()["derived"][0]["latency_ms"] <= low * 1.001


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"targets": 0}, "strategy.targets"),
        ({"epochs": 1.5}, "strategy.epochs"),
        ({"latency_weight": -1.0}, "strategy.latency_weight"),
        ({"tau_max": 1.0, "tau_min": 2.0}, "strategy.tau_min"),
        ({"latency_samples": 5}, "strategy.latency_samples"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        create_strategy("differentiable", **options)


def test_a_problem_without_latency_or_dataset_is_refused(digits) -> None:
    strategy = create_strategy("differentiable")
    with pytest.raises(ConfigError, match="latency_ms"):
        strategy.setup(Problem(TINY, ("error", "macs"), context={"dataset": digits}), seed=0)
    supernet = create_strategy("differentiable", relaxation="supernet")
    with pytest.raises(ConfigError, match=r"strategy.relaxation.*dataset"):
        supernet.setup(Problem(TINY, ("error", "latency_ms")), seed=0)
    model = create_strategy("differentiable", relaxation="model")
    with pytest.raises(ConfigError, match=r"objectives.*error"):
        model.setup(Problem(TINY, ("macs", "latency_ms")), seed=0)


# -- relaxation over a learned error model (no dataset: a table, hwnas bench) -------------


def _model_search(ceiling: float, strategy: str = "differentiable", seed: int = 0) -> Any:
    from tests.search.toy import ToyEvaluator

    space = NB201Space()
    options = {"initial": 10, "epochs": 4} if strategy == "differentiable" else {}
    with RunStore(":memory:") as store:
        run_search(
            space=space,
            strategy=create_strategy(strategy, **options),
            executor=InlineExecutor(lambda: ToyEvaluator(space)),
            cheap=_cheap(space),
            objectives=("error", "latency_ms"),
            budgets=(parse_budget(f"latency_ms <= {ceiling}"),),
            store=store,
            seed=seed,
            batch_size=5,
            max_evaluations=40,
        )
        return store.candidates()


def test_without_a_dataset_it_relaxes_against_a_learned_model_beyond_random() -> None:
    # The toy accuracy counts 3x3 convolutions (1x1 half): the costliest operations, so
    # under a ceiling the best architectures spend it all on 3x3 convolutions.
    space = NB201Space()
    cheap = _cheap(space)
    low, high = (r["latency_ms"] for r in cheap([space.smallest(), space.largest()]))
    ceiling = low + 0.5 * (high - low)
    best, best_random, first = [], [], None
    for seed in range(3):
        found = _model_search(ceiling, seed=seed)
        first = first or found
        # 10 random ones, then relaxed and repaired ones: none over the ceiling.
        assert len(found) == 40 and all(c.metrics["latency_ms"] <= ceiling for c in found)
        feasible = [c for c in found if c.status == "done"]
        best.append(max(c.metrics["accuracy"] for c in feasible))
        randoms = [c for c in _model_search(ceiling, "random", seed) if c.status == "done"]
        best_random.append(max(c.metrics["accuracy"] for c in randoms))
    # Three 3x3 convolutions fit under this ceiling (accuracy 0.5 + what 1x1 adds).
    assert np.mean(best) > np.mean(best_random)
    assert min(best) >= 0.5
    # Deterministic for a seed.
    assert [c.arch for c in _model_search(ceiling, seed=0)] == [c.arch for c in first]


def test_model_mode_resumes_after_a_kill_into_the_uninterrupted_search(tmp_path) -> None:
    from tests.search.test_state_dict import Dying, Killed

    space = NB201Space()
    cheap = _cheap(space)

    def run(store: RunStore, kill_at: int | None = None) -> None:
        run_search(
            space=space,
            strategy=create_strategy("differentiable", initial=8, epochs=3),
            executor=InlineExecutor(lambda: Dying(kill_at), retries=0),  # fails some too
            cheap=cheap,
            objectives=("error", "latency_ms"),
            budgets=(),
            store=store,
            seed=3,
            batch_size=5,
            max_evaluations=30,
        )

    with RunStore(tmp_path / "straight.db") as store:
        run(store)
        straight = [c.arch for c in store.candidates()]
    with RunStore(tmp_path / "killed.db") as store, pytest.raises(Killed):
        run(store, kill_at=17)
    with RunStore(tmp_path / "killed.db") as store:
        before = [c.arch for c in store.candidates()]
    assert 8 < len(before) < len(straight)
    with RunStore(tmp_path / "killed.db") as store:
        run(store)  # replayed: the strategy is deterministic given what it was told
        after = [c.arch for c in store.candidates()]
    assert after[: len(before)] == before and after == straight


def test_supernet_mode_resumes_after_a_kill_into_the_uninterrupted_search(digits, tmp_path) -> None:
    """Killed after its first evaluation, the resumed search derives the same architectures
    again (the relaxation is deterministic for the seed) and asks only the rest."""
    from tests.search.test_state_dict import Killed

    cheap = _cheap(TINY)
    low, high = (r["latency_ms"] for r in cheap([TINY.smallest(), TINY.largest()]))
    ceiling = low + 0.6 * (high - low)

    class DyingSupernet(SupernetEvaluator):
        calls = 0

        def evaluate(self, arch: Any) -> Any:
            type(self).calls += 1
            if type(self).calls == 2:
                raise Killed
            return super().evaluate(arch)

    def run(path: Any, evaluator: type) -> list[Any]:
        _, (_, candidates) = _search(digits, path, ceiling, evaluator, batch_size=1)
        return [(c.arch, c.status) for c in candidates]

    straight = run(tmp_path / "straight.db", SupernetEvaluator)
    with pytest.raises(Killed):
        run(tmp_path / "killed.db", DyingSupernet)
    with RunStore(tmp_path / "killed.db") as store:
        before = [(c.arch, c.status) for c in store.candidates() if c.status == "done"]
    assert 0 < len(before) < len(straight)
    after = run(tmp_path / "killed.db", SupernetEvaluator)
    assert after[: len(before)] == before and after == straight
