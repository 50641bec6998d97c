"""What :func:`~hwnas.bench.run_bench` measured: one record per search, the summary over
seeds, and the JSON form (``hwnas bench --json``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwnas.bench.config import BenchConfig
from hwnas.benchmarks_table import load_table

__all__ = ["BenchResult", "DeviceResult", "RunRecord"]


@dataclass
class RunRecord:
    """One search of one strategy with one seed on one device."""

    strategy: str
    seed: int
    queries: list[str]
    regret: list[float]
    recall: list[float]
    seconds: float

    def to_dict(self, rows: Mapping[str, int] | None = None) -> dict[str, Any]:
        """JSON-able; with ``rows``, queried architectures as table row numbers."""
        out: dict[str, Any] = {"strategy": self.strategy, "seed": self.seed}
        out["regret"] = self.regret
        out["recall"] = self.recall
        out["seconds"] = round(self.seconds, 3)
        if rows is None:
            out["queried"] = self.queries
        else:
            out["queried_rows"] = [rows[a] for a in self.queries]
        return out


@dataclass
class DeviceResult:
    """The benchmark of one latency column."""

    column: str
    true_front: list[str]
    true_hypervolume: float
    bounds: dict[str, list[float]]
    runs: list[RunRecord] = field(default_factory=list)


@dataclass
class BenchResult:
    """Everything :func:`~hwnas.bench.run_bench` measured."""

    config: BenchConfig
    table_source: str
    table_fingerprint: str
    devices: dict[str, DeviceResult]
    seconds: float = 0.0

    def summary(self) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """``{device: {strategy: {str(queries): {regret_mean, regret_std, regret_median,
        recall_mean, recall_std}}}}`` over the seeds."""
        out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        for column, device in self.devices.items():
            out[column] = {}
            for name in self.config.strategies:
                runs = [r for r in device.runs if r.strategy == name]
                if not runs:
                    continue
                regret = np.array([r.regret for r in runs])
                recall = np.array([r.recall for r in runs])
                out[column][name] = {
                    str(q): {
                        "regret_mean": float(regret[:, i].mean()),
                        "regret_std": float(regret[:, i].std()),
                        "regret_median": float(np.median(regret[:, i])),
                        "recall_mean": float(recall[:, i].mean()),
                        "recall_std": float(recall[:, i].std()),
                        "seeds": len(runs),
                    }
                    for i, q in enumerate(self.config.queries)
                }
        return out

    def to_dict(self, rows: bool = False) -> dict[str, Any]:
        """JSON-able; ``rows`` gives queried architectures as table row numbers."""
        table = load_table(self.config.table, arch_column=self.config.arch_column)
        index = {a: i for i, a in enumerate(table.archs)} if rows else None
        return {
            "format": "hwnas-bench",
            "config": self.config.to_dict(),
            "table": {"source": self.table_source, "sha256": self.table_fingerprint},
            "metric": {
                "regret": "1 - HV(feasible front of the queried architectures) / HV(true "
                "front), true table values, both objectives min-max normalised over the "
                "table, reference point (1, 1)",
                "recall": "share of the true front's architectures that were queried",
            },
            "seconds": round(self.seconds, 2),
            "summary": self.summary(),
            "devices": {
                column: {
                    "true_front": device.true_front,
                    "true_hypervolume": device.true_hypervolume,
                    "bounds": device.bounds,
                    "runs": [run.to_dict(index) for run in device.runs],
                }
                for column, device in self.devices.items()
            },
        }
