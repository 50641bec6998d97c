"""How much an accuracy measured on a few hundred images can be trusted.

On digits' 360 test images one image is 0.28 points, so two models a point apart may be
equally good. Each accuracy in the report carries a Wilson score interval (95 %), which
behaves at accuracies near 1 where the normal approximation gives intervals past 100 %;
a "dominates" whose accuracies' intervals overlap is said to be within noise.
"""

from __future__ import annotations

import math

#: Confidence of the intervals the report shows.
CONFIDENCE = 0.95


def wilson_interval(
    accuracy: float, n: int, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The Wilson score interval of a share ``accuracy`` of ``n`` trials (``None`` when
    ``n`` is 0), within ``[0, 1]`` and holding ``accuracy``."""
    from scipy.stats import norm

    if n <= 0:
        return None
    z = float(norm.ppf(0.5 + confidence / 2))
    z2n = z * z / n
    centre = (accuracy + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(accuracy * (1 - accuracy) / n + z2n / (4 * n))
    # In exact arithmetic the interval holds the point and lies in [0, 1]; in floating point
    # an accuracy of 1 gets an upper bound of 0.9999999999999999.
    point = min(1.0, max(0.0, accuracy))
    return max(0.0, min(point, centre - half)), min(1.0, max(point, centre + half))


def overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """Whether two intervals overlap (``True`` when either is unknown: nothing is shown to
    be different)."""
    if a is None or b is None:
        return True
    return a[0] <= b[1] and b[0] <= a[1]


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether ``(accuracy, cost)`` point ``a`` dominates ``b``: at least as accurate and
    at most as costly, strictly better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])
