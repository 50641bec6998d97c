"""Drift correction: every latency measured against a fixed anchor model, timed in between.

A shared machine's speed drifts. On this project's 2-core VM one day, the same model's
median over one-second stretches ranged 0.056-0.119 ms (coefficient of variation 28 %),
while the ratio of two models timed in alternating stretches of 20 calls over the same
minute varied by 3 % (``0.52-0.59``): the drift is common to everything that runs. A
predictor checked at minute 0 and models measured at minute 8 then disagree by the drift,
not by any error of the predictor, and a calibration that re-profiles to chase it only
measures the drift again.

So, on the runtimes that opt in (:attr:`hwnas.profiling.runtimes.Runtime.anchored`: the
CPU ones), the measurement protocol (:func:`hwnas.profiling.protocol.measure`) times a small
fixed **anchor** model (:func:`anchor_model`) for as many calls after each window of the
model measured, and reports that model's samples scaled by ``level / anchor``: ``anchor``
the median of the anchor's samples taken during this measurement, ``level`` the anchor's
typical latency in this process (:class:`SpeedReference`: seeded by :data:`SEED_SECONDS`
of anchor calls, the median over the first :data:`SETTLE` measurements, then fixed).
Every figure of one process is then at one speed, that of its first measurements; the
factor applied is kept as ``drift`` in the statistics (1.0: none). What remains is the
difference between that speed and another moment's: an independent timing a minute
later still sees the machine as it is then. How far it moved is recorded too
(:meth:`SpeedReference.spread`: the anchor's median over each window of a few calls, a
moment's speed): export writes it into its manifest and the report says it, since a timing
taken at one moment can differ from the figures by as much.

The anchor runs on the same runtime with the same settings and batch, at its own input
shape (:data:`ANCHOR_SHAPE`); ``anchor: "off"`` in the protocol turns the correction off,
``"on"`` turns it on for any runtime, ``"auto"`` (the default) leaves it to the runtime.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

    from hwnas.profiling.runtimes import Runtime

#: The anchor's input ``(C, H, W)``: small, so that its calls cost little beside the model
#: measured, and an image whatever the measured model takes.
ANCHOR_SHAPE = (3, 16, 16)
#: Seconds of anchor calls that seed a process's :class:`SpeedReference`.
SEED_SECONDS = 0.5
#: Anchor calls per seeding window.
SEED_WINDOW = 20
#: Anchor medians (the seed's and those of the first measurements) whose median fixes a
#: process's level; later ones are recorded but no longer move it. A level that kept
#: following every measurement moved with the machine: in a fresh-clone ``make run`` here
#: the calibration ran in a slow stretch and the exports in a fast one, and the exports'
#: figures came out 30 % under their own selection measurements in the same process.
SETTLE = 8
#: Windows recorded before :meth:`SpeedReference.spread` says anything.
SPREAD_MIN_WINDOWS = 20
#: Windows kept for the spread (the latest; a long profile of small models records
#: thousands a minute).
SPREAD_WINDOWS_KEPT = 100_000
#: Settings of the protocol's ``anchor`` key.
ANCHOR_SETTINGS = ("auto", "on", "off")

_REFERENCES: dict[tuple[Any, ...], SpeedReference] = {}


def anchor_model() -> nn.Module:
    """The fixed anchor: two convolutions, batch norm, pooling and a linear layer (about
    0.4 M multiply-accumulates at :data:`ANCHOR_SHAPE`), seeded, in eval mode."""
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(ANCHOR_SHAPE[0], 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(32, 10),
        )
    return model.eval()


class SpeedReference:
    """The anchor's run function and its medians over the measurements of one process.

    Args:
        run_once: Runs the anchor once and returns its time in milliseconds.
        seed_seconds: Seconds of anchor calls taken first; their median seeds the level.
        clock: A clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        run_once: Callable[[], float],
        *,
        seed_seconds: float = SEED_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.run_once = run_once
        self.medians: list[float] = []
        #: The anchor's median over each window of the measurements (a few calls, a
        #: fraction of a millisecond): the machine's speed at one moment, for :meth:`spread`
        #: (the latest :data:`SPREAD_WINDOWS_KEPT`).
        self.windows: deque[float] = deque(maxlen=SPREAD_WINDOWS_KEPT)
        samples: list[float] = []
        deadline = clock() + seed_seconds
        while not samples or clock() < deadline:
            samples += self.sample(SEED_WINDOW)
        self.add(samples)

    def sample(self, n: int) -> list[float]:
        """``n`` anchor calls' times (ms)."""
        return [float(self.run_once()) for _ in range(max(1, n))]

    def add(self, samples: list[float]) -> None:
        """Record the anchor samples of one measurement (their median)."""
        if samples:
            self.medians.append(float(statistics.median(samples)))

    def add_window(self, samples: list[float]) -> None:
        """Record the anchor samples taken after one window of a measurement."""
        if samples:
            self.windows.append(float(statistics.median(samples)))

    def spread(self) -> dict[str, Any] | None:
        """How far the machine's speed moved between the windows recorded: the anchor's
        level and the 10th, 50th and 90th percentiles of its window medians (ms), and
        ``p90_over_p10``; ``None`` with fewer than :data:`SPREAD_MIN_WINDOWS` windows."""
        if len(self.windows) < SPREAD_MIN_WINDOWS:
            return None
        p10, p50, p90 = (float(v) for v in np.percentile(self.windows, [10, 50, 90]))
        return {
            "anchor_level_ms": self.level_ms,
            "windows": len(self.windows),
            "anchor_p10_ms": p10,
            "anchor_p50_ms": p50,
            "anchor_p90_ms": p90,
            "p90_over_p10": p90 / p10 if p10 > 0 else None,
        }

    @property
    def level_ms(self) -> float:
        """The anchor's typical latency in this process: the median of the first
        :data:`SETTLE` medians recorded (of those so far, before there are as many), fixed
        from then on so that every later figure of the process is at one speed."""
        return float(statistics.median(self.medians[:SETTLE]))


def wants_anchor(runtime: Runtime, setting: object = "auto") -> bool:
    """Whether measurements on ``runtime`` are drift-corrected under ``setting``.

    Raises:
        ConfigError: ``setting`` is not one of :data:`ANCHOR_SETTINGS` (or a bool).
    """
    if isinstance(setting, bool):
        return setting
    if setting not in ANCHOR_SETTINGS:
        raise ConfigError("anchor", f"one of {', '.join(ANCHOR_SETTINGS)}", setting)
    if setting == "auto":
        return bool(getattr(runtime, "anchored", False))
    return setting == "on"


def _key(runtime: Runtime, batch: int) -> tuple[Any, ...]:
    return (
        os.getpid(),  # a forked worker prepares its own
        runtime.name,
        json.dumps(runtime.settings(), sort_keys=True, default=str),
        batch,
    )


def speed_reference(runtime: Runtime, batch: int) -> SpeedReference:
    """This process's :class:`SpeedReference` for ``runtime`` (its settings) and ``batch``,
    prepared and seeded on first use."""
    key = _key(runtime, batch)
    reference = _REFERENCES.get(key)
    if reference is None:
        with tempfile.TemporaryDirectory(prefix="hwnas-anchor-") as workdir:
            run_once = runtime.prepare(anchor_model(), ANCHOR_SHAPE, batch, workdir)
        reference = _REFERENCES[key] = SpeedReference(run_once)
    return reference


def speed_spread(runtime: Runtime, batch: int, setting: object = "auto") -> dict[str, Any] | None:
    """:meth:`SpeedReference.spread` of this process's reference for ``runtime`` and
    ``batch`` (``None`` when there is none: nothing measured, or no drift correction)."""
    if not wants_anchor(runtime, setting):
        return None
    reference = _REFERENCES.get(_key(runtime, batch))
    return None if reference is None else reference.spread()


def reference_for(runtime: Runtime, batch: int, setting: object = "auto") -> SpeedReference | None:
    """:func:`speed_reference` when :func:`wants_anchor`, else ``None``."""
    return speed_reference(runtime, batch) if wants_anchor(runtime, setting) else None


__all__ = [
    "ANCHOR_SETTINGS",
    "ANCHOR_SHAPE",
    "SEED_SECONDS",
    "SETTLE",
    "SpeedReference",
    "anchor_model",
    "reference_for",
    "speed_reference",
    "speed_spread",
    "wants_anchor",
]
