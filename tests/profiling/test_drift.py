"""Drift correction: measurements against an anchor model timed in between."""

from __future__ import annotations

import pytest

from hwnas.errors import ConfigError
from hwnas.profiling import create_runtime
from hwnas.profiling.drift import (
    SPREAD_MIN_WINDOWS,
    SpeedReference,
    anchor_model,
    speed_reference,
    speed_spread,
    wants_anchor,
)
from hwnas.profiling.protocol import measure, measure_model
from hwnas.profiling.runtimes import RUNTIMES


class Machine:
    """A fake machine whose speed factor the test sets; every call takes ``base * speed``
    ms and advances a fake clock by as much."""

    def __init__(self) -> None:
        self.speed = 1.0
        self.now = 0.0
        self.calls = 0

    def clock(self) -> float:
        return self.now

    def runner(self, base_ms: float, ramp: float = 0.0):
        def run_once() -> float:
            self.calls += 1
            self.speed *= 1.0 + ramp
            ms = base_ms * self.speed
            self.now += ms / 1000.0
            return ms

        return run_once


FAST = {"warmup": 0, "min_repeats": 20, "min_seconds": 0.0, "max_seconds": 60.0}


def test_reference_is_seeded_and_pools_medians() -> None:
    machine = Machine()
    reference = SpeedReference(machine.runner(0.5), seed_seconds=0.01, clock=machine.clock)
    assert reference.level_ms == pytest.approx(0.5)
    assert machine.calls >= 20  # at least one seeding window
    reference.add([1.0, 1.0, 1.0])
    reference.add([2.0])
    assert reference.level_ms == pytest.approx(1.0)  # median of 0.5, 1.0, 2.0
    reference.add([])
    assert len(reference.medians) == 3


def test_the_level_settles_and_later_stretches_do_not_move_it() -> None:
    from hwnas.profiling.drift import SETTLE

    machine = Machine()
    reference = SpeedReference(machine.runner(1.0), seed_seconds=0.01, clock=machine.clock)
    for _ in range(SETTLE - 1):
        reference.add([1.0])
    assert reference.level_ms == pytest.approx(1.0)
    for _ in range(3 * SETTLE):  # a long fast stretch later in the run
        reference.add([0.6])
    assert reference.level_ms == pytest.approx(1.0)
    assert len(reference.medians) == 4 * SETTLE


def test_a_slower_moment_is_corrected_to_the_process_speed() -> None:
    machine = Machine()
    reference = SpeedReference(machine.runner(0.5), seed_seconds=0.01, clock=machine.clock)
    target = machine.runner(1.0)
    machine.speed = 2.0  # the machine is twice as slow now
    raw = measure(target, clock=machine.clock, **FAST)
    corrected = measure(target, clock=machine.clock, reference=reference, **FAST)
    assert raw.median_ms == pytest.approx(2.0)
    # The level pools the seed (0.5) and this measurement's anchor (1.0): 0.75.
    assert corrected.drift == pytest.approx(0.75)
    assert corrected.median_ms == pytest.approx(1.5)
    machine.speed = 2.0
    again = measure(target, clock=machine.clock, reference=reference, **FAST)
    assert again.median_ms == pytest.approx(2.0)  # the level is now 1.0: the process's speed
    assert raw.drift == 1.0


def test_a_level_taken_while_the_machine_thrashed_is_not_applied() -> None:
    from hwnas.profiling.protocol import MAX_DRIFT

    machine = Machine()
    machine.speed = 100.0  # threads spinning on busy cores while the level was seeded
    reference = SpeedReference(machine.runner(0.5), seed_seconds=0.01, clock=machine.clock)
    machine.speed = 1.0
    figures = measure(machine.runner(1.0), clock=machine.clock, reference=reference, **FAST)
    # The pooled level (median of 50 and 0.5) is ~50x this measurement's anchor: beyond
    # MAX_DRIFT, so the model keeps its measured 1 ms, not 50 ms, and is not called stable.
    assert reference.level_ms / 0.5 > MAX_DRIFT
    assert figures.median_ms == pytest.approx(1.0) and figures.drift == 1.0
    assert not figures.stable


def test_the_stopping_rule_reads_the_corrected_median() -> None:
    # A machine slowing by 0.2 % a call: the raw median keeps moving, the ratio does not.
    settings = {**FAST, "rel_tol": 0.01, "max_repeats": 2000}
    machine = Machine()
    raw = measure(machine.runner(1.0, ramp=0.002), clock=machine.clock, **settings)
    machine = Machine()
    reference = SpeedReference(machine.runner(0.5), seed_seconds=0.01, clock=machine.clock)
    corrected = measure(
        machine.runner(1.0, ramp=0.002), clock=machine.clock, reference=reference, **settings
    )
    assert not raw.stable or raw.n > corrected.n
    assert corrected.stable and corrected.n == 20


def test_each_window_records_the_moment_s_speed_and_their_spread() -> None:
    machine = Machine()
    reference = SpeedReference(machine.runner(0.5), seed_seconds=0.01, clock=machine.clock)
    assert not reference.windows and reference.spread() is None
    target = machine.runner(1.0)
    measure(target, clock=machine.clock, reference=reference, **{**FAST, "window": 10})
    assert len(reference.windows) == 2  # 20 samples in windows of 10
    assert list(reference.windows) == pytest.approx([0.5, 0.5])
    assert reference.spread() is None  # too few windows to say anything
    # A machine alternating between two speeds, window by window.
    for i in range(SPREAD_MIN_WINDOWS):
        machine.speed = 1.0 if i % 2 else 1.5
        reference.add_window(reference.sample(10))
    spread = reference.spread()
    assert spread is not None and spread["windows"] == SPREAD_MIN_WINDOWS + 2
    assert spread["anchor_p10_ms"] == pytest.approx(0.5)
    assert spread["anchor_p90_ms"] == pytest.approx(0.75)
    assert spread["p90_over_p10"] == pytest.approx(1.5)
    assert spread["anchor_level_ms"] == pytest.approx(reference.level_ms)


def test_the_speed_line_says_how_far_a_moment_s_timing_can_differ() -> None:
    from hwnas.export import speed_text

    assert speed_text(None) == "" and speed_text({}) == ""
    spread = {
        "anchor_level_ms": 0.0231,
        "windows": 480,
        "anchor_p10_ms": 0.0198,
        "anchor_p50_ms": 0.0229,
        "anchor_p90_ms": 0.0317,
        "p90_over_p10": 0.0317 / 0.0198,
    }
    text = speed_text(spread)
    assert "480 windows" in text and "0.0198-0.0317 ms" in text and "1.60x" in text
    assert "can differ from these figures" in text
    steady = speed_text({**spread, "anchor_p90_ms": 0.0205, "p90_over_p10": 0.0205 / 0.0198})
    assert "1.04x" in steady and "differ" not in steady
    from hwnas.report.html import _speed

    assert _speed({"speed": spread}).startswith("<p>Latency figures are at this machine")
    assert _speed({"speed": None}) == ""


def test_which_runtimes_are_anchored() -> None:
    assert wants_anchor(create_runtime("onnxruntime-cpu", check=False))
    assert wants_anchor(create_runtime("torch-cpu", check=False))
    assert not wants_anchor(create_runtime("torch-cuda", check=False))
    assert wants_anchor(create_runtime("torch-cuda", check=False), "on")
    assert not wants_anchor(create_runtime("onnxruntime-cpu", check=False), "off")
    with pytest.raises(ConfigError, match="anchor"):
        wants_anchor(create_runtime("onnxruntime-cpu", check=False), "sometimes")
    assert "onnxruntime-cpu" in RUNTIMES


def test_real_measurements_record_the_correction() -> None:
    runtime = create_runtime("onnxruntime-cpu", threads=1)
    model = anchor_model()
    protocol = {"warmup": 2, "min_repeats": 20, "min_seconds": 0.05, "max_seconds": 1.0}
    on = measure_model(runtime, model, (3, 16, 16), 1, **protocol)
    off = measure_model(runtime, model, (3, 16, 16), 1, anchor="off", **protocol)
    assert on.drift > 0 and on.drift != 1.0
    assert off.drift == 1.0
    # One reference per runtime settings and batch, kept for the process.
    assert speed_reference(runtime, 1) is speed_reference(runtime, 1)
    assert speed_reference(runtime, 1) is not speed_reference(runtime, 2)
    assert len(speed_reference(runtime, 1).medians) >= 2
    assert len(speed_reference(runtime, 1).windows) >= 2  # one a window of the measurement
    assert speed_spread(runtime, 1, "off") is None  # no correction, nothing recorded
    assert speed_spread(runtime, 7) is None  # nothing measured at that batch
