"""How much an accuracy measured on a few hundred images can be trusted.

On digits' 360 test images one image is 0.28 points, so two models a point apart may be
equally good. Each accuracy in the report carries a Wilson score interval (95 %), which
behaves at accuracies near 1 where the normal approximation gives intervals past 100 %;
a "dominates" whose accuracies' intervals overlap is said to be within noise.

Two models scored on the same images are compared more sharply, pair by pair
(:func:`paired_edge`): only the images one gets right and the other wrong tell them apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Confidence of the intervals the report shows.
CONFIDENCE = 0.95


def wilson_interval(
    accuracy: float, n: int, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The Wilson score interval of a share ``accuracy`` of ``n`` trials (``None`` when
    ``n`` is 0)."""
    from scipy.stats import norm

    if n <= 0:
        return None
    z = float(norm.ppf(0.5 + confidence / 2))
    z2n = z * z / n
    centre = (accuracy + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(accuracy * (1 - accuracy) / n + z2n / (4 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """Whether two intervals overlap (``True`` when either is unknown: nothing is shown to
    be different)."""
    if a is None or b is None:
        return True
    return a[0] <= b[1] and b[0] <= a[1]


def paired_edge(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> tuple[int, int, float]:
    """How much better model ``a`` is than ``b`` on the same samples (their per-sample
    correctness, in one order): the samples only ``a`` gets right, those only ``b`` gets
    right, and the one-sided p-value of the exact sign test (McNemar's exact test) that
    ``a`` is the more accurate: the chance that two equally accurate models split their
    disagreements at least as much in ``a``'s favour (1.0 when they never disagree).

    Raises:
        ValueError: The two are not of one length.
    """
    from scipy.stats import binomtest

    if len(a_correct) != len(b_correct):
        raise ValueError(f"per-sample results of {len(a_correct)} and {len(b_correct)} samples")
    a_only = sum(bool(a) and not bool(b) for a, b in zip(a_correct, b_correct, strict=True))
    b_only = sum(bool(b) and not bool(a) for a, b in zip(a_correct, b_correct, strict=True))
    if a_only + b_only == 0:
        return 0, 0, 1.0
    p = float(binomtest(a_only, a_only + b_only, 0.5, alternative="greater").pvalue)
    return a_only, b_only, p


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether ``(accuracy, cost)`` point ``a`` dominates ``b``: at least as accurate and
    at most as costly, strictly better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])
