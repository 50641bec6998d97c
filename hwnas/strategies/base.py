"""The strategy interface: ``ask(n)`` for architectures, ``tell`` their objective values.

Every search strategy (NSGA-II, regularized evolution, random, RL, differentiable)
implements this one small interface and runs in the one loop of :mod:`hwnas.search`.
Objectives are minimised; constraints follow pymoo (``g <= 0`` is feasible). A strategy
is deterministic given its seed and the values it is told, which is what lets a resumed
search replay its history from the run store and continue exactly where it stopped.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hwnas.registry import Registry
from hwnas.spaces.base import Arch, SearchSpace

STRATEGIES: Registry[Strategy] = Registry("strategy")


@dataclass(frozen=True)
class Problem:
    """What a strategy searches: a space, minimised objectives and constraints.

    Attributes:
        space: The search space.
        objectives: Objective names (all minimised).
        n_constraints: Number of constraints (``g <= 0`` feasible).
        cheap: A function giving, for a list of architectures, their cheap objective and
            constraint values without an accuracy evaluation (``nan`` where a value needs
            one), so that strategies can screen candidates; may be ``None``.
    """

    space: SearchSpace
    objectives: tuple[str, ...]
    n_constraints: int = 0
    cheap: Callable[[Sequence[Arch]], tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def n_objectives(self) -> int:
        """The number of objectives."""
        return len(self.objectives)


class Strategy(abc.ABC):
    """A search strategy. Subclasses take explicit keyword arguments and store them."""

    name: ClassVar[str]

    def setup(self, problem: Problem, seed: int) -> None:
        """Prepare to search ``problem``; ``seed`` fixes every random choice."""
        self.problem = problem
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self._setup()

    def _setup(self) -> None:
        """Hook for subclasses: build state after :meth:`setup` stored the problem."""
        return None

    @abc.abstractmethod
    def ask(self, n: int) -> list[Arch]:
        """Propose ``n`` architectures to evaluate next (fewer only when the space is spent)."""

    @abc.abstractmethod
    def tell(self, archs: Sequence[Arch], F: np.ndarray, G: np.ndarray) -> None:
        """Report objective values ``F`` (n x objectives) and constraints ``G`` (n x m)."""

    def state(self) -> dict[str, Any]:
        """JSON-able summary for logs (generation counters and the like)."""
        return {}


def register_strategy(name: str) -> Callable[[Callable[..., Any]], Any]:
    """Class decorator registering a :class:`Strategy` under ``name``."""
    return STRATEGIES.register(name)


def create_strategy(name: str, **kwargs: Any) -> Strategy:
    """The strategy registered as ``name``, built with ``kwargs``."""
    return STRATEGIES.create(name, **kwargs)


def list_strategies() -> list[str]:
    """The names of the registered strategies."""
    return STRATEGIES.names()
