"""The ``tabular`` evaluator: accuracies looked up in a published benchmark table.

By default the NAS-Bench-201 table shipped with hwnas (CIFAR-10 test accuracy after 200
epochs); any CSV of the same form can be given (see :mod:`hwnas.benchmarks_table`). A lookup
costs nothing, which makes this evaluator the way to benchmark search strategies.
"""

from __future__ import annotations

import os
from typing import Any

from hwnas.benchmarks_table import BenchmarkTable, load_table
from hwnas.errors import ConfigError
from hwnas.evaluators.base import EvalResult, Evaluator, register_evaluator
from hwnas.spaces import Arch, SearchSpace, create_space

__all__ = ["TabularEvaluator"]


@register_evaluator("tabular")
class TabularEvaluator(Evaluator):
    """Accuracy of an architecture read from a benchmark table.

    Args:
        space: The search space (a name such as ``"nb201"`` or a :class:`SearchSpace`); the
            table's architecture strings must be the canonical ``str(arch)`` of this space.
        accuracy_column: The numeric column holding accuracies. Percentages (a column with a
            value above 1) are divided by 100, so ``accuracy`` is always a fraction.
        table: ``None`` for the shipped NAS-Bench-201 table, the path of a CSV file, or a
            loaded :class:`BenchmarkTable`.
        arch_column: The architecture column of a table read from a path.

    Raises:
        ConfigError: Unknown space or column, or (shipped table) a ``nb201`` space whose
            configuration is not the benchmark's own.
        DataError: The table file is missing or malformed.

    Note:
        The shipped table records *test* accuracies (the benchmark has no other split for
        every dataset); results say so in ``info["column"]``.
    """

    name = "tabular"

    def __init__(
        self,
        space: str | SearchSpace = "nb201",
        accuracy_column: str = "acc_cifar10_test",
        table: str | os.PathLike[str] | BenchmarkTable | None = None,
        arch_column: str = "arch_str",
    ) -> None:
        self.space = create_space(space) if isinstance(space, str) else space
        if not isinstance(self.space, SearchSpace):
            raise ConfigError("space", "a space name or a SearchSpace", space)
        if isinstance(table, BenchmarkTable):
            self.table = table
        else:
            self.table = load_table(table, arch_column=arch_column)
        if table is None:
            # The shipped table was measured on the space's published configuration.
            official = type(self.space)().config()
            if self.space.config() != official:
                raise ConfigError(
                    "space",
                    f"the published configuration {official} for the shipped table",
                    self.space.config(),
                )
        self.accuracy_column = accuracy_column
        self._values = self.table.column(accuracy_column)  # ConfigError if unknown
        self.scale = self.table.percent_scale(accuracy_column)

    def evaluate(self, arch: Arch) -> EvalResult:
        """The table's accuracy of ``arch`` as a fraction; ``cost_seconds`` is 0.

        Raises:
            ArchError: ``arch`` is of another space or not in the table.
        """
        self.check_arch(arch)
        row = self.table.row_of(str(arch))
        accuracy = float(self._values[row]) / self.scale
        return EvalResult(
            metrics={"accuracy": accuracy},
            cost_seconds=0.0,
            info={"table": self.table.source, "row": row, "column": self.accuracy_column},
        )

    def cache_key(self) -> dict[str, Any]:
        """The table's SHA-256, the accuracy column and its scale."""
        return {
            "table": self.table.fingerprint,
            "arch_column": self.table.arch_column,
            "column": self.accuracy_column,
            "scale": self.scale,
        }
