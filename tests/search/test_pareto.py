"""Pareto helpers: spreading an export selection along the front."""

from __future__ import annotations

import pytest

from hwnas.pareto import spread_indices


@pytest.mark.parametrize(
    ("n", "k", "expected"),
    [
        (3, 6, [0, 1, 2]),
        (6, 6, [0, 1, 2, 3, 4, 5]),
        (7, 6, [0, 1, 2, 4, 5, 6]),
        (11, 3, [0, 5, 10]),
        (5, 1, [0]),
        (0, 4, []),
    ],
)
def test_spread_indices_cover_the_front_end_to_end(n, k, expected) -> None:
    assert spread_indices(n, k) == expected


def test_spread_indices_are_distinct_and_keep_both_ends() -> None:
    for n in range(2, 60):
        for k in range(2, n + 1):
            picks = spread_indices(n, k)
            assert len(picks) == k and picks[0] == 0 and picks[-1] == n - 1


def _candidate(name: str, error: float, latency: float, status: str = "done"):  # type: ignore[no-untyped-def]
    from hwnas.store import Candidate

    metrics = {"accuracy": 1 - error, "error": error, "latency_ms": latency}
    return Candidate(arch=name, encoding=(0,), status=status, metrics=metrics)


def test_ranked_selection_fills_from_the_next_fronts() -> None:
    from hwnas.objectives import parse_budget
    from hwnas.pareto import ranked_selection

    front = [_candidate("a", 0.01, 3.0), _candidate("b", 0.05, 1.0)]
    second = [_candidate("c", 0.02, 3.5), _candidate("d", 0.06, 1.5), _candidate("e", 0.055, 2.5)]
    third = [_candidate("f", 0.07, 4.0)]
    slow = [_candidate("g", 0.0, 9.0)]  # breaks the latency budget
    failed = [_candidate("h", 0.0, 0.1, status="failed")]
    pool = front + second + third + slow + failed
    budgets = (parse_budget("latency_ms <= 5"),)
    objectives = ("error", "latency_ms")
    picks = ranked_selection(pool, objectives, budgets, 4)
    assert {c.arch for c, _ in picks} == {"a", "b", "c", "d"}  # rank 1 spread: both ends
    assert dict((c.arch, r) for c, r in picks) == {"a": 0, "b": 0, "c": 1, "d": 1}
    assert [c.arch for c, _ in picks] == ["a", "c", "b", "d"]  # sorted by error
    assert [c.arch for c, _ in ranked_selection(pool, objectives, budgets, None)] == ["a", "b"]
    assert len(ranked_selection(pool, objectives, budgets, 50)) == 6
    assert ranked_selection(failed + slow, objectives, budgets, 3) == []


def test_ranked_selection_keeps_one_candidate_per_network() -> None:
    from hwnas.pareto import ranked_selection

    # "a" and "a2" build the same network (same key): only the better estimate counts, and
    # the next distinct network takes the freed place.
    pool = [
        _candidate("a", 0.01, 3.0),
        _candidate("a2", 0.02, 3.0),
        _candidate("b", 0.05, 1.0),
        _candidate("c", 0.03, 3.5),
    ]
    objectives = ("error", "latency_ms")
    plain = ranked_selection(pool, objectives, (), 3)
    assert [c.arch for c, _ in plain] == ["a", "a2", "b"]
    keyed = ranked_selection(pool, objectives, (), 3, key=lambda c: c.arch.rstrip("2"))
    assert [c.arch for c, _ in keyed] == ["a", "c", "b"]


def test_mbconv_network_key_merges_widths_that_round_to_the_same_channels() -> None:
    from hwnas.nn import build_model
    from hwnas.spaces import create_space

    space = create_space("mbconv")
    a = space.parse("w1-relu:k3e4|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1")
    b = space.parse(str(a).replace("w1-", "w0.75-", 1))  # 24 x 0.75 rounds up to 24
    c = space.parse(str(a).replace("w1-", "w0.5-", 1))  # 24 x 0.5 -> 16
    assert a != b and space.network_key(a) == space.network_key(b) != space.network_key(c)
    shapes = [
        [tuple(p.shape) for p in build_model(space, x, (1, 8, 8), 10).parameters()]
        for x in (a, b, c)
    ]
    assert shapes[0] == shapes[1] != shapes[2]


class _LatencyOfCells:
    """A latency estimate where the smallest NAS-Bench-201 cell (all ``none``) is slow and a
    cell of skip connections fast, as a real nb201 predictor had it."""

    def predict(self, archs):
        return [0.1 + 0.03 * str(a).count("none") - 0.01 * str(a).count("skip") for a in archs]


@pytest.mark.parametrize("ceiling", [0.3, 0.045])
def test_the_hypervolume_stays_within_0_and_1(ceiling: float) -> None:
    import numpy as np

    from hwnas.objectives import parse_budget
    from hwnas.search import CheapMetrics, Normalizer
    from hwnas.spaces import create_space

    space = create_space("nb201")
    cheap = CheapMetrics(space, (3, 8, 8), 10, latency=_LatencyOfCells())
    budgets = (parse_budget(f"latency_ms <= {ceiling}"),)
    normalizer = Normalizer(("error", "latency_ms"), budgets, cheap)
    smallest = cheap([space.smallest()])[0]["latency_ms"]
    rng = np.random.default_rng(5)
    rows = cheap([space.sample(rng) for _ in range(300)])
    fastest = min(r["latency_ms"] for r in rows)
    assert fastest < smallest  # the smallest architecture is not the fastest
    # Under the 0.045 ceiling only cells of (nearly) all skip connections: 0.04 ms.
    F = np.array([[0.1, v] for v in [r["latency_ms"] for r in rows] + [0.04] if v <= ceiling])
    normed = normalizer(F)
    assert normed.min() >= 0.0 and normed[:, 1].max() <= 1.0
    from hwnas.pareto import hypervolume

    assert 0.0 < hypervolume(normed, np.ones(2)) <= 1.0
