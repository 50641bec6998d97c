"""How a search is scored: the true front of a device column and the regret and recall of
the architectures a search queried, on their true table values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwnas.benchmarks_table import BenchmarkTable
from hwnas.errors import ConfigError, HwnasError
from hwnas.pareto import hypervolume, pareto_mask

__all__ = ["Truth"]


class Truth:
    """A device's true objectives (error, latency) over the table, its true front and the
    scoring of queried rows.

    Both objectives are min-max normalised over the whole table; hypervolumes use the
    reference point (1, 1).

    Args:
        table: The benchmark table.
        accuracy_column: Its accuracy column (fractions, or percentages).
        column: Its latency column (ms), the device.

    Raises:
        ConfigError: A column has a value that is not finite.
        HwnasError: The true front has no hypervolume (a constant column).
    """

    def __init__(self, table: BenchmarkTable, accuracy_column: str, column: str) -> None:
        self.table = table
        accuracy = table.column(accuracy_column) / table.percent_scale(accuracy_column)
        latency = table.column(column)
        for name, values in ((accuracy_column, accuracy), (column, latency)):
            if not np.all(np.isfinite(values)):
                raise ConfigError(name, "a column with a finite value for every row", name)
        F = np.c_[1.0 - accuracy, latency]
        self.lower = F.min(axis=0)
        self.upper = F.max(axis=0)
        span = np.where(self.upper > self.lower, self.upper - self.lower, 1.0)
        self.normalised = (F - self.lower) / span
        self.error = F[:, 0]
        self.latency = F[:, 1]
        mask = pareto_mask(self.normalised)
        self.front_rows = np.flatnonzero(mask)
        self.reference = np.ones(2)
        self.hv = hypervolume(self.normalised[mask], self.reference)
        if self.hv <= 0:
            raise HwnasError(f"{column}: the true front has no hypervolume (constant column?)")
        self.front_set = set(int(i) for i in self.front_rows)

    def score(self, rows: Sequence[int], queries: Sequence[int]) -> tuple[list[float], list[float]]:
        """Hypervolume regret and front recall of the first ``q`` rows, for each ``q``.

        Args:
            rows: The table rows queried, in order.
            queries: Increasing numbers of queries.

        Returns:
            ``(regret, recall)``, one value per number of queries, each in [0, 1].
        """
        regret, recall = [], []
        for q in queries:
            prefix = np.asarray(list(rows[:q]), dtype=int)
            if len(prefix):
                F = self.normalised[prefix]
                hv = hypervolume(F[pareto_mask(F)], self.reference)
            else:
                hv = 0.0
            regret.append(float(min(max(1.0 - hv / self.hv, 0.0), 1.0)))
            found = len(self.front_set.intersection(int(r) for r in prefix))
            recall.append(found / len(self.front_set))
        return regret, recall
