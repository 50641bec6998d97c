"""Random search: the baseline every other strategy must beat."""

from __future__ import annotations

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
