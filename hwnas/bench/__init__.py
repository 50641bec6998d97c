"""``hwnas bench``: search strategies compared on a tabular benchmark (NAS-Bench-201 by default).

For each latency column of the table (a device), each strategy and each seed, a search
minimises (error, latency) with at most ``max(queries)`` accuracy queries, answered from the
table. It is scored on the *true* table values of the architectures it queried:

* **hypervolume regret** ``1 - HV(found front) / HV(true front)``, both objectives
  normalised by their minimum and maximum over the whole table, reference point (1, 1);
* **front recall**: the share of the true Pareto-optimal architectures it queried;

after each number of queries of ``queries`` (its first 50, 100... queries). More queries
never increase the regret.

hwnas strategies run through the one search loop (:func:`hwnas.search.run_search`, an
in-memory run store, the ``tabular`` evaluator) and see latency only through a latency
predictor fitted on ``profile_archs`` (at most 300) architectures of that device column,
drawn with the seed: a realistic profiling budget, counted apart from accuracy queries.
External baselines (:data:`EXTERNAL_BASELINES`) run outside the loop; ``optuna-nsga2`` is
Optuna's NSGA-II (categorical parameter per gene) given the true latency, as in the
reference numbers of the table's README.

The modules, one job each: :mod:`~hwnas.bench.config` (the options, a pydantic model),
:mod:`~hwnas.bench.scoring` (true front, regret, recall), :mod:`~hwnas.bench.latency` (the
predictor on a profiling budget), :mod:`~hwnas.bench.baselines` (Optuna),
:mod:`~hwnas.bench.runner`, :mod:`~hwnas.bench.results` and :mod:`~hwnas.bench.report`
(text table and plot).

Example::

    from hwnas.bench import run_bench

    result = run_bench(strategies=["surrogate-ehvi", "random"], seeds=2, queries=[50, 100])
    result.summary()["pixel3_ms"]["random"]["100"]["regret_mean"]
"""

from __future__ import annotations

from hwnas.bench.baselines import EXTERNAL_BASELINES, ExternalBaseline
from hwnas.bench.config import (
    DEFAULT_STRATEGIES,
    MAX_PROFILE_ARCHS,
    BenchConfig,
    load_bench_config,
)
from hwnas.bench.latency import EXACT_LATENCY, fit_latency_predictor, profiled_rows
from hwnas.bench.report import format_report, plot_bench
from hwnas.bench.results import BenchResult, DeviceResult, RunRecord
from hwnas.bench.runner import Progress, run_bench
from hwnas.bench.scoring import Truth

__all__ = [
    "DEFAULT_STRATEGIES",
    "EXACT_LATENCY",
    "EXTERNAL_BASELINES",
    "MAX_PROFILE_ARCHS",
    "BenchConfig",
    "BenchResult",
    "DeviceResult",
    "ExternalBaseline",
    "Progress",
    "RunRecord",
    "Truth",
    "fit_latency_predictor",
    "format_report",
    "load_bench_config",
    "plot_bench",
    "profiled_rows",
    "run_bench",
]
