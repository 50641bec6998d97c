"""Repair of a derived architecture that breaks its latency target or a cheap budget.

TF-NAS style: while the architecture breaks a bound, move the one decision whose switch to
another choice costs the least probability (log-probability under the learned
distribution) per unit of violation removed, judged with the full predictor; repeat. Every
move strictly lowers the violation, so the repair ends; when no single move helps, it gives
up and says so rather than returning an architecture that breaks a bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Encoding = tuple[int, ...]


def repair(
    encoding: Sequence[int],
    log_probs: Sequence[np.ndarray],
    violation: Callable[[list[Encoding]], np.ndarray],
    max_steps: int = 1000,
) -> tuple[Encoding | None, int]:
    """The nearest (by probability lost) encoding with no violation.

    Args:
        encoding: Where to start (the distribution's most likely encoding).
        log_probs: Per encoding dimension, the log-probability of each choice.
        violation: Non-negative violation of each encoding of a list (0: meets every bound).
        max_steps: Moves allowed.

    Returns:
        The repaired encoding (``None`` when no sequence of single moves removes the
        violation) and the number of moves made.
    """
    current = tuple(int(c) for c in encoding)
    v = float(violation([current])[0])
    steps = 0
    while v > 0 and steps < max_steps:
        moves = [
            (d, c) for d, lp in enumerate(log_probs) for c in range(len(lp)) if c != current[d]
        ]
        candidates = [(*current[:d], c, *current[d + 1 :]) for d, c in moves]
        after = np.asarray(violation(candidates), dtype=float)
        saved = v - after
        lost = np.array([max(0.0, log_probs[d][current[d]] - log_probs[d][c]) for d, c in moves])
        helpful = saved > 1e-12
        if not helpful.any():
            return None, steps
        score = np.where(helpful, lost / np.where(helpful, saved, 1.0), np.inf)
        # Least probability lost per violation removed; ties go to the larger saving.
        best = int(np.lexsort((-saved, score))[0])
        current, v = candidates[best], float(after[best])
        steps += 1
    return (current if v <= 0 else None), steps
