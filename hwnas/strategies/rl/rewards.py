"""Rewards of the ``rl`` strategy: accuracy traded against a cost (latency) and a target.

With ``a`` the accuracy (a fraction), ``c`` the cost (latency in ms) and ``T`` the target:

* ``accuracy``: ``a`` (no cost term; the single-objective reward).
* ``mnas-soft``: ``a * (c / T) ** w`` with ``w = -0.07`` on both sides of the target, as
  MnasNet's soft reward (Tan et al. 2019, alpha = beta = -0.07).
* ``mnas-hard``: the same with ``w = 0`` under the target and ``w = -1`` over it (MnasNet's
  hard constraint written as a reward).
* ``tunas``: TuNAS's absolute reward ``a + beta * |c / T - 1|`` with ``beta = -0.1``
  (Bender et al. 2020): off-target in either direction costs the same.

``pareto`` is not a formula of its own: it draws the target per sample over the space's
cost range and scores with :data:`PARETO_BASE` (see :mod:`hwnas.strategies.rl.strategy`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: The reward names the ``reward`` option accepts (``auto`` chooses among them).
Reward = Literal["auto", "accuracy", "mnas-soft", "mnas-hard", "tunas", "pareto"]
#: MnasNet's exponent (soft reward, either side of the target).
MNAS_W = -0.07
#: TuNAS's weight of the absolute latency term.
TUNAS_BETA = -0.1
#: The formula scoring a sample against its own drawn target in ``pareto`` mode: on NB201
#: (seeds 0-2, pixel3 / 1080ti regret at 300 queries) ``mnas-hard`` left 0.71 / 2.44 % where
#: ``tunas`` left 1.21 / 6.56 % (about random search on 1080ti).
PARETO_BASE = "mnas-hard"


def reward_value(
    kind: str, accuracy: np.ndarray, cost: np.ndarray, target: np.ndarray | float
) -> np.ndarray:
    """The reward of each sample.

    Args:
        kind: ``accuracy``, ``mnas-soft``, ``mnas-hard`` or ``tunas``.
        accuracy: Accuracies (fractions).
        cost: Costs in the target's unit (ignored by ``accuracy``).
        target: The target ``T`` (one, or one per sample).

    Returns:
        One reward per sample (higher is better).

    Raises:
        ValueError: An unknown ``kind``.
    """
    a = np.asarray(accuracy, dtype=float)
    if kind == "accuracy":
        return a.copy()
    # A zero cost (a cell without operations) counts as a tiny one: the MnasNet powers of
    # the ratio stay finite.
    ratio = np.maximum(np.asarray(cost, dtype=float) / np.asarray(target, dtype=float), 1e-9)
    if kind == "mnas-soft":
        return a * ratio**MNAS_W
    if kind == "mnas-hard":
        return a * np.where(ratio <= 1.0, 1.0, 1.0 / ratio)
    if kind == "tunas":
        return a + TUNAS_BETA * np.abs(ratio - 1.0)
    raise ValueError(f"unknown reward {kind!r}")
