"""Regularized evolution (Real et al., AmoebaNet), multi-objective.

A population of the most recently evaluated architectures ages out its oldest member each
time a child is told. Each child mutates the winner of a tournament among ``sample``
random members, the winner being the best by constrained domination (feasible first, then
non-domination rank within the tournament, then constraint violation). A skipped member
competes with its unknown values at their worst (error 1, accuracy 0); a failed one loses
to every member that was evaluated or skipped.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from hwnas.errors import ConfigError
from hwnas.pareto import constrained_order
from hwnas.spaces.base import Arch
from hwnas.strategies.base import (
    StateError,
    Status,
    Strategy,
    checked_options,
    floats_from_state,
    floats_to_state,
    register_strategy,
    state_field,
    worst_case,
)


@register_strategy("evolution")
class RegularizedEvolution(Strategy):
    """Aging evolution with tournament selection by constrained domination.

    Args:
        population: Members kept (the oldest dies when a child arrives).
        sample: Tournament size.
    """

    name = "evolution"

    @checked_options
    def __init__(
        self, population: Annotated[int, Field(ge=2)] = 20, sample: Annotated[int, Field(ge=1)] = 5
    ) -> None:
        if sample > population:
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

    def _tell(
        self, archs: list[Arch], F: np.ndarray, G: np.ndarray, status: tuple[Status, ...]
    ) -> None:
        # Skipped members compete at their worst (error 1, accuracy 0), failed ones lose.
        F, G = worst_case(self.problem, F, G, status)
        for arch, f, g in zip(archs, F, G, strict=True):
            self._members.append((arch, np.asarray(f, float), np.asarray(g, float)))
            if len(self._members) > self.population:
                self._members.popleft()
            self._seen.add(arch)
            self._told += 1

    def state(self) -> dict[str, Any]:
        return {"told": self._told, "members": len(self._members)}

    def state_dict(self) -> dict[str, Any]:
        members = list(self._members)
        return {
            "rng": self._rng_state(),
            "members": self._archs_to_state([a for a, _, _ in members]),
            "F": floats_to_state(np.array([f for _, f, _ in members])),
            "G": floats_to_state(np.array([g for _, _, g in members])),
            "seen": sorted(self._archs_to_state(self._seen)),
            "told": self._told,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        archs = self._archs_from_state(state, "members")
        n = len(archs)
        # worst_case adds one constraint column (failures) to the budgets'.
        shapes = {"F": (n, self.problem.n_objectives), "G": (n, self.problem.n_constraints + 1)}
        F, G = (floats_from_state(self.name, k, state.get(k), s) for k, s in shapes.items())
        if n > self.population:
            raise StateError(self.name, "members", f"at most {self.population} members")
        seen = set(self._archs_from_state(state, "seen"))
        told = state_field(self.name, state, "told", int)
        self._load_rng_state(state.get("rng"))
        self._members = deque(zip(archs, F, G, strict=True))
        self._seen, self._told = seen, told
