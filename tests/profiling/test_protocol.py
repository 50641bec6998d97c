"""The measurement protocol, driven by fake ``run_once`` functions and a fake clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pytest

from hwnas.errors import ConfigError, HwnasError
from hwnas.profiling import LatencyStats, measure


class FakeClock:
    """A clock advancing by ``step`` seconds every time it is read."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Sequence:
    """A ``run_once`` returning the values of an iterable, counting its calls."""

    def __init__(self, values: Iterable[float]) -> None:
        self.values: Iterator[float] = iter(values)
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return next(self.values)


def fast(**kwargs: Any) -> dict[str, Any]:
    """Protocol arguments that never wait on the (fake) clock."""
    return {"clock": FakeClock(), "min_seconds": 0.0, **kwargs}


def test_statistics_match_numpy() -> None:
    rng = np.random.default_rng(0)
    values = list(1.0 + 0.1 * rng.random(40))
    stats = measure(Sequence(values), **fast(warmup=0, min_repeats=40, max_repeats=40, window=40))
    assert stats.n == 40 and stats.n_outliers == 0
    assert stats.median_ms == pytest.approx(np.median(values))
    assert stats.mean_ms == pytest.approx(np.mean(values))
    assert stats.p90_ms == pytest.approx(np.percentile(values, 90))
    assert stats.std_ms == pytest.approx(np.std(values))
    assert stats.min_ms == pytest.approx(min(values))


def test_warmup_is_discarded() -> None:
    values = [100.0] * 5 + [1.0] * 20
    run = Sequence(values)
    stats = measure(run, **fast(warmup=5, min_repeats=20, max_repeats=20))
    assert run.calls == 25
    assert stats.n == 20 and stats.median_ms == 1.0 and stats.mean_ms == 1.0


def test_outliers_are_dropped_from_mean_std_p90_but_not_median() -> None:
    # Q1 = 1.075, Q3 = 1.3, IQR = 0.225: the fence is 1.975, so 1.6 stays and 50 goes.
    values = [*([1.0, 1.1, 1.2, 1.3] * 4), 1.0, 1.1, 1.6, 50.0]
    stats = measure(Sequence(values), **fast(warmup=0, min_repeats=20, max_repeats=20))
    kept = values[:19]
    assert stats.n == 20 and stats.n_outliers == 1
    assert stats.median_ms == pytest.approx(np.median(values))
    assert stats.mean_ms == pytest.approx(np.mean(kept))
    assert stats.std_ms == pytest.approx(np.std(kept))
    assert stats.p90_ms == pytest.approx(np.percentile(kept, 90))
    assert stats.min_ms == 1.0


def test_from_samples_fence_is_q3_plus_3_iqr() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 30.0, 31.0])
    q1, q3 = np.percentile(values, [25, 75])
    fence = q3 + 3 * (q3 - q1)
    stats = LatencyStats.from_samples(values, stable=True)
    assert stats.n_outliers == int(np.sum(values > fence))
    assert stats.to_dict() == {
        "median_ms": stats.median_ms,
        "mean_ms": stats.mean_ms,
        "p90_ms": stats.p90_ms,
        "std_ms": stats.std_ms,
        "min_ms": stats.min_ms,
        "n": 10,
        "n_outliers": stats.n_outliers,
        "stable": True,
        "drift": 1.0,
    }


def test_stops_at_min_repeats_when_stable() -> None:
    run = Sequence(itertools.repeat(2.0))
    stats = measure(run, **fast(warmup=3, min_repeats=20, max_repeats=500, window=10))
    assert stats.n == 20 and stats.stable
    assert run.calls == 23


def test_keeps_going_until_min_seconds() -> None:
    run = Sequence(itertools.repeat(2.0))
    # The clock advances 1/64 s per read (exact in binary): the timed repeats start at the
    # second read and min_seconds is reached at the 64th sample, checked after window 7.
    stats = measure(
        run,
        warmup=0,
        min_repeats=20,
        max_repeats=10_000,
        min_seconds=1.0,
        max_seconds=100.0,
        window=10,
        clock=FakeClock(step=1 / 64),
    )
    assert stats.stable and stats.n == 70


def test_stops_at_max_repeats_when_not_stable() -> None:
    # Strictly increasing: the median keeps moving by more than 1 % per window.
    run = Sequence(float(2**i) for i in itertools.count())
    stats = measure(run, **fast(warmup=0, min_repeats=20, max_repeats=55, window=10))
    assert stats.n == 55 and not stats.stable
    assert run.calls == 55


def test_stable_at_max_repeats_when_median_settled() -> None:
    run = Sequence(itertools.repeat(3.0))
    stats = measure(run, **fast(warmup=0, min_repeats=30, max_repeats=30, window=10))
    assert stats.n == 30 and stats.stable


def test_honours_max_seconds() -> None:
    run = Sequence(float(2**i) for i in itertools.count())
    clock = FakeClock(step=0.125)  # every read advances 1/8 s (exact in binary)
    stats = measure(
        run,
        warmup=5,
        min_repeats=20,
        max_repeats=10_000,
        max_seconds=2.0,
        min_seconds=0.0,
        clock=clock,
    )
    # The deadline is read at 0.125 (-> 2.125); warm-up reads 0.25..0.75, the start of the
    # timed repeats 0.875, and the samples 1.0, 1.125, ..., 2.125: 10 samples.
    assert run.calls == 5 + stats.n
    assert stats.n == 10
    assert clock.now == 2.125
    assert not stats.stable


def test_max_seconds_always_leaves_one_sample() -> None:
    run = Sequence(itertools.repeat(1.0))
    stats = measure(run, warmup=10, max_seconds=0.5, min_seconds=0.0, clock=FakeClock(step=1.0))
    assert run.calls == 2  # one warm-up call, then one sample
    assert stats.n == 1 and not stats.stable and stats.median_ms == 1.0


def test_gc_is_restored() -> None:
    import gc

    assert gc.isenabled()
    measure(Sequence(itertools.repeat(1.0)), **fast(warmup=0))
    assert gc.isenabled()
    with pytest.raises(StopIteration):
        measure(Sequence([1.0, 1.0]), **fast(warmup=0))
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"warmup": -1}, "warmup"),
        ({"warmup": 1.5}, "warmup"),
        ({"min_repeats": 0}, "min_repeats"),
        ({"max_repeats": 0}, "max_repeats"),
        ({"min_repeats": 30, "max_repeats": 20}, "max_repeats"),
        ({"max_seconds": 0}, "max_seconds"),
        ({"max_seconds": float("nan")}, "max_seconds"),
        ({"min_seconds": -1.0}, "min_seconds"),
        ({"min_seconds": 10.0, "max_seconds": 5.0}, "min_seconds"),
        ({"rel_tol": 0}, "rel_tol"),
        ({"rel_tol": "1%"}, "rel_tol"),
        ({"window": 0}, "window"),
        ({"window": True}, "window"),
    ],
)
def test_argument_validation(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        measure(lambda: 1.0, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)


def test_run_once_must_be_callable() -> None:
    with pytest.raises(ConfigError, match="run_once"):
        measure(1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [float("nan"), -1.0, float("inf"), "fast"])
def test_run_once_must_return_milliseconds(bad: object) -> None:
    with pytest.raises(HwnasError, match="run_once returned"):
        measure(lambda: bad, **fast(warmup=0))  # type: ignore[arg-type, return-value]


def test_a_configs_protocol_defaults_are_the_protocols_own() -> None:
    import inspect

    from hwnas.config import ProtocolSection
    from hwnas.profiling.protocol import measure, measure_model

    defaults = ProtocolSection().kwargs()
    for name, parameter in inspect.signature(measure).parameters.items():
        if name in defaults:
            assert defaults[name] == parameter.default, name
    assert defaults["anchor"] == inspect.signature(measure_model).parameters["anchor"].default
    assert set(defaults) == {
        "warmup", "min_repeats", "max_repeats", "max_seconds", "min_seconds", "rel_tol", "anchor"
    }  # fmt: skip
