"""Random search: the baseline every other strategy must beat."""

from __future__ import annotations

from typing import Any

import numpy as np

from hwnas.spaces.base import Arch
from hwnas.strategies.base import Status, Strategy, register_strategy


@register_strategy("random")
class RandomSearch(Strategy):
    """Uniformly random, distinct architectures."""

    name = "random"

    def _setup(self) -> None:
        self._seen: set[Arch] = set()

    def ask(self, n: int) -> list[Arch]:
        archs: list[Arch] = []
        for _ in range(100 * n):
            if len(archs) == n:
                break
            arch = self.problem.space.sample(self.rng)
            if arch not in self._seen:
                self._seen.add(arch)
                archs.append(arch)
        return archs

    def _tell(
        self, archs: list[Arch], F: np.ndarray, G: np.ndarray, status: tuple[Status, ...]
    ) -> None:
        self._seen.update(archs)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self._rng_state(), "seen": sorted(self._archs_to_state(self._seen))}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        seen = set(self._archs_from_state(state, "seen"))
        self._load_rng_state(state.get("rng"))
        self._seen = seen
