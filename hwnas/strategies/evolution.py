"""Regularized evolution (Real et al., AmoebaNet), multi-objective.

A population of the most recently evaluated architectures ages out its oldest member each
time a child is told. Each child mutates the winner of a tournament among ``sample``
random members, the winner being the best by constrained domination (feasible first, then
non-domination rank within the tournament, then constraint violation).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.errors import ConfigError
from hwnas.pareto import constrained_order
from hwnas.spaces.base import Arch
from hwnas.strategies.base import Strategy, register_strategy


@register_strategy("evolution")
class RegularizedEvolution(Strategy):
    """Aging evolution with tournament selection by constrained domination.

    Args:
        population: Members kept (the oldest dies when a child arrives).
        sample: Tournament size.
    """

    name = "evolution"

    def __init__(self, population: int = 20, sample: int = 5) -> None:
        if population < 2:
            raise ConfigError("strategy.population", "an integer >= 2", population)
        if not 1 <= sample <= population:
            raise ConfigError("strategy.sample", f"an integer in [1, {population}]", sample)
        self.population = population
        self.sample = sample

    def _setup(self) -> None:
        self._members: deque[tuple[Arch, np.ndarray, np.ndarray]] = deque()
        self._seen: set[Arch] = set()
        self._told = 0

    def ask(self, n: int) -> list[Arch]:
        space = self.problem.space
        archs: list[Arch] = []
        for _ in range(n):
            for _attempt in range(100):
                if len(self._members) < self.population:
                    child = space.sample(self.rng)
                else:
                    child = space.mutate(self._tournament(), self.rng)
                if child not in self._seen and child not in archs:
                    break
            archs.append(child)
        self._seen.update(archs)
        return archs

    def _tournament(self) -> Arch:
        members = list(self._members)
        picks = self.rng.choice(len(members), size=self.sample, replace=False)
        F = np.array([members[i][1] for i in picks])
        G = np.array([members[i][2] for i in picks])
        best = picks[constrained_order(F, G, self.rng)[0]]
        return members[best][0]

    def tell(self, archs: Sequence[Arch], F: np.ndarray, G: np.ndarray) -> None:
        for arch, f, g in zip(archs, F, G, strict=True):
            self._members.append((arch, np.asarray(f, float), np.asarray(g, float)))
            if len(self._members) > self.population:
                self._members.popleft()
            self._seen.add(arch)
            self._told += 1

    def state(self) -> dict[str, Any]:
        return {"told": self._told, "members": len(self._members)}
