"""The latency measurement protocol.

One latency figure is measured as follows, by :func:`measure`:

1. **Preparation** (by the runtime, not timed): the model is exported or copied, the
   session or device model created, a fixed input built, and one inference run to absorb
   first-call costs (allocation, kernel selection, engine builds).
2. **Warm-up**: ``warmup`` inferences (default 10) are run and discarded; caches, branch
   predictors, CPU frequency and allocator pools settle. On ``torch-cuda`` the runtime's
   preparation has also autotuned cuDNN and run inferences back to back for its
   ``warmup_seconds``, so that the GPU left its idle clocks (:mod:`hwnas.profiling.cuda`).
3. **Timed repeats**: inferences are run one at a time, back to back (no sleeps), each
   timed on its own (wall time with ``time.perf_counter``; CUDA events on ``torch-cuda``),
   in windows of ``window`` samples (default 10). Python's garbage collector is paused
   while the protocol runs, so no collection lands inside a timed call.
4. **Stopping rule**: after a window, once at least ``min_repeats`` samples (default 20)
   were taken *and* the repeats have lasted ``min_seconds`` (default 1 s), the median of all
   samples is compared with the median before that window. Repeats stop when it moved by
   less than ``rel_tol`` (default 1 %) relative: the figure is then **stable**. Repeats
   also stop after ``max_repeats`` samples (default 100000) or once ``max_seconds``
   (default 5 s, warm-up included) have passed; the figure is then stable only if its last
   window moved the median by less than ``rel_tol``. At least one sample is always taken.
   ``min_seconds`` is there because a machine drifts: on a quiet shared 2-core VM, the
   medians of a 0.2 ms model over back-to-back 0.1 s stretches differed by up to 5 %, over
   back-to-back 1 s stretches by at most 3 %. A slow model still gets ``min_repeats``
   samples (as far as ``max_seconds`` allows). Other work on the machine (even on another
   core) shifts latencies by more than that: profile on an otherwise idle machine.
5. **Statistics** (:class:`LatencyStats`): the reported latency is the **median** of all
   samples, robust to the occasional slow call. Samples above ``Q3 + 3 * IQR`` are
   *outliers* (preemption, interrupts); they are counted (``n_outliers``) and left out of
   the mean, the standard deviation (population, ``ddof=0``) and the 90th percentile
   (linear interpolation). ``min_ms`` is over all samples.
6. **Drift correction** (:mod:`hwnas.profiling.drift`, on the CPU runtimes by default): a
   fixed anchor model is timed for as many calls after each window, and the samples are
   scaled by the anchor's level in this process (its median over the process's first
   measurements, then fixed) over its median during this measurement (``drift``, 1.0 when
   off), so that the machine's drift from minute to minute does not enter the figures; the
   stopping rule compares the corrected medians.

Latencies measured under different device fingerprints
(:func:`hwnas.profiling.fingerprint.device_fingerprint`: hardware, library versions,
runtime settings, batch size, input shape) are never mixed.
"""

from __future__ import annotations

import gc
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.errors import ConfigError, HwnasError
from hwnas.validate import check_int

if TYPE_CHECKING:
    from torch import nn

    from hwnas.profiling.drift import SpeedReference
    from hwnas.profiling.runtimes import Runtime

#: Defaults of :func:`measure` (see the module docstring).
DEFAULT_WARMUP = 10
DEFAULT_MIN_REPEATS = 20
DEFAULT_MAX_REPEATS = 100_000
DEFAULT_MAX_SECONDS = 5.0
DEFAULT_MIN_SECONDS = 1.0
DEFAULT_REL_TOL = 0.01
DEFAULT_WINDOW = 10

#: Samples above ``Q3 + OUTLIER_IQR_FACTOR * IQR`` are outliers.
OUTLIER_IQR_FACTOR = 3.0


@dataclass(frozen=True)
class LatencyStats:
    """Summary of the timed samples of one measurement, in milliseconds.

    Attributes:
        median_ms: Median of all samples (the reported latency).
        mean_ms: Mean of the samples that are not outliers.
        p90_ms: 90th percentile of the samples that are not outliers.
        std_ms: Standard deviation (``ddof=0``) of the samples that are not outliers.
        min_ms: Smallest sample.
        n: Number of timed samples (warm-up excluded).
        n_outliers: Samples above ``Q3 + 3 * IQR``.
        stable: Whether the median had converged (within ``rel_tol``) when repeats stopped.
        drift: The drift correction the samples were scaled by (1.0: none).
    """

    median_ms: float
    mean_ms: float
    p90_ms: float
    std_ms: float
    min_ms: float
    n: int
    n_outliers: int
    stable: bool
    drift: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_samples(cls, samples: Any, *, stable: bool, drift: float = 1.0) -> LatencyStats:
        """The statistics of ``samples`` (milliseconds) scaled by ``drift``, outliers
        handled as documented."""
        values = np.asarray(samples, dtype=np.float64) * drift
        if values.ndim != 1 or values.size == 0:
            raise HwnasError("latency statistics need at least one sample")
        q1, q3 = np.percentile(values, [25, 75])
        kept = values[values <= q3 + OUTLIER_IQR_FACTOR * (q3 - q1)]
        return cls(
            median_ms=float(np.median(values)),
            mean_ms=float(np.mean(kept)),
            p90_ms=float(np.percentile(kept, 90)),
            std_ms=float(np.std(kept)),
            min_ms=float(np.min(values)),
            n=int(values.size),
            n_outliers=int(values.size - kept.size),
            stable=bool(stable),
            drift=float(drift),
        )


#: The largest drift correction applied (either way). A quiet shared VM's speed moved by up
#: to 2.1x over a minute; a tester's torch run with two threads on two busy cores got a
#: level 112x its later anchor timings (the level taken while the threads thrashed), which
#: had scaled a 10 ms model to 1,234 ms. Beyond it the figure is left uncorrected and
#: marked not stable.
MAX_DRIFT = 3.0


def _check_number(name: str, value: object, *, allow_zero: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        raise ConfigError(
            name, "a finite number >= 0" if allow_zero else "a finite number > 0", value
        )
    return float(value)


def _sample(run_once: Callable[[], float]) -> float:
    value = run_once()
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise HwnasError(f"run_once returned {value!r}, expected milliseconds") from None
    if not math.isfinite(ms) or ms < 0:
        raise HwnasError(f"run_once returned {value!r}, expected finite milliseconds >= 0")
    return ms


def _moved(new: float, old: float) -> float:
    """The relative change from ``old`` to ``new`` (0 when both are 0)."""
    if new == old:
        return 0.0
    if old == 0:
        return math.inf
    return abs(new - old) / abs(old)


def _median_stable(
    samples: list[float],
    window_start: int,
    rel_tol: float,
    anchor: list[float] | None = None,
    anchor_start: int = 0,
) -> bool:
    """Whether the median moved by less than ``rel_tol`` over the window from
    ``window_start``; with ``anchor`` samples, the median relative to theirs (whose window
    starts at ``anchor_start``)."""
    if window_start <= 0:
        return False
    before = float(np.median(samples[:window_start]))
    after = float(np.median(samples))
    if anchor:
        before /= float(np.median(anchor[:anchor_start] or anchor))
        after /= float(np.median(anchor))
    return _moved(after, before) < rel_tol


def measure(
    run_once: Callable[[], float],
    *,
    warmup: int = DEFAULT_WARMUP,
    min_repeats: int = DEFAULT_MIN_REPEATS,
    max_repeats: int = DEFAULT_MAX_REPEATS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    rel_tol: float = DEFAULT_REL_TOL,
    window: int = DEFAULT_WINDOW,
    clock: Callable[[], float] = time.perf_counter,
    reference: SpeedReference | None = None,
) -> LatencyStats:
    """Measure the latency of ``run_once`` by the protocol of this module's docstring.

    Args:
        run_once: Runs one inference and returns its time in milliseconds
            (:meth:`hwnas.profiling.runtimes.Runtime.prepare` returns one).
        warmup: Calls run first and discarded.
        min_repeats: Timed samples taken at least (unless ``max_seconds`` runs out).
        max_repeats: Timed samples taken at most.
        max_seconds: Time budget in seconds, warm-up included, read from ``clock``.
        min_seconds: Timed repeats last at least this long (seconds of ``clock``) before the
            median may be declared stable; it averages out slow drifts of the machine.
        rel_tol: The relative change of the median between two windows under which it is
            stable.
        window: Samples per window; the stopping rule is checked after each window.
        clock: A clock in seconds for the time budget (injectable for tests).
        reference: Drift correction (:mod:`hwnas.profiling.drift`): the anchor is timed
            for as many calls after each window; ``None``: no correction.

    Returns:
        The :class:`LatencyStats` of the timed samples.

    Raises:
        ConfigError: An argument is invalid (the error names it).
        HwnasError: ``run_once`` returned something other than finite milliseconds >= 0.
    """
    if not callable(run_once):
        raise ConfigError("run_once", "a callable returning milliseconds", run_once)
    warmup = check_int("warmup", warmup, 0)
    min_repeats = check_int("min_repeats", min_repeats, 1)
    max_repeats = check_int("max_repeats", max_repeats, 1)
    if max_repeats < min_repeats:
        raise ConfigError("max_repeats", f"an integer >= min_repeats ({min_repeats})", max_repeats)
    max_seconds = _check_number("max_seconds", max_seconds)
    min_seconds = _check_number("min_seconds", min_seconds, allow_zero=True)
    if min_seconds > max_seconds:
        raise ConfigError("min_seconds", f"a number <= max_seconds ({max_seconds})", min_seconds)
    rel_tol = _check_number("rel_tol", rel_tol)
    window = check_int("window", window, 1)

    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        deadline = clock() + max_seconds
        for _ in range(warmup):
            _sample(run_once)
            if clock() >= deadline:
                break
        samples: list[float] = []
        anchor: list[float] = []
        started = clock()
        now = started
        while True:
            out_of_time = False
            window_start, anchor_start = len(samples), len(anchor)
            for _ in range(min(window, max_repeats - window_start)):
                samples.append(_sample(run_once))
                now = clock()
                if now >= deadline:
                    out_of_time = True
                    break
            if reference is not None:
                taken = reference.sample(len(samples) - window_start)
                reference.add_window(taken)
                anchor += taken
                now = clock()
            done = len(samples) >= max_repeats or out_of_time
            # The median check only runs once it can stop the loop, so that its cost does
            # not slow down (or cool the caches of) the calls in between.
            if done or (len(samples) >= min_repeats and now - started >= min_seconds):
                stable = _median_stable(samples, window_start, rel_tol, anchor, anchor_start)
                if stable or done:
                    break
    finally:
        if gc_was_enabled:
            gc.enable()
    drift = 1.0
    if reference is not None:
        reference.add(anchor)
        drift = reference.level_ms / float(np.median(anchor))
        if not 1 / MAX_DRIFT <= drift <= MAX_DRIFT:
            # Not a drift but a machine thrashing while the level or this measurement was
            # taken: the figure is left as measured, and not called stable.
            drift, stable = 1.0, False
    return LatencyStats.from_samples(samples, stable=stable, drift=drift)


def measure_model(
    runtime: Runtime,
    model: nn.Module,
    input_shape: tuple[int, int, int],
    batch: int = 1,
    workdir: str | Path | None = None,
    anchor: object = "auto",
    **protocol_kwargs: Any,
) -> LatencyStats:
    """Prepare ``model`` on ``runtime`` and :func:`measure` it.

    Args:
        runtime: The runtime (see :func:`hwnas.profiling.runtimes.create_runtime`).
        model: The model (copied or exported, never modified).
        input_shape: ``(C, H, W)`` of one input sample.
        batch: The batch size.
        workdir: A folder for the runtime's files; a temporary one when ``None``.
        anchor: Drift correction: ``auto`` (the runtime's default), ``on`` or ``off``
            (:mod:`hwnas.profiling.drift`).
        protocol_kwargs: Keyword arguments of :func:`measure`.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="hwnas-profile-") as tmp:
            return measure_model(runtime, model, input_shape, batch, tmp, anchor, **protocol_kwargs)
    run_once = runtime.prepare(model, input_shape, batch, Path(workdir))
    return measure_prepared(runtime, run_once, batch, anchor, **protocol_kwargs)


def measure_prepared(
    runtime: Runtime,
    run_once: Callable[[], float],
    batch: int,
    anchor: object = "auto",
    **protocol_kwargs: Any,
) -> LatencyStats:
    """:func:`measure` ``run_once`` (prepared on ``runtime`` for ``batch``), drift-corrected
    per ``anchor`` (see :func:`measure_model`)."""
    from hwnas.profiling.drift import reference_for

    reference = reference_for(runtime, batch, anchor)
    return measure(run_once, reference=reference, **protocol_kwargs)
