"""The runner of ``hwnas bench``: every strategy with every seed on every device column.

hwnas strategies run through the one search loop (:func:`hwnas.search.run_search`, an
in-memory run store, the ``tabular`` evaluator) and see latency only through the predictor
of :mod:`hwnas.bench.latency`; external baselines (:mod:`hwnas.bench.baselines`) run
outside it. Each search is scored by :class:`~hwnas.bench.scoring.Truth`.
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hwnas.bench.baselines import EXTERNAL_BASELINES
from hwnas.bench.config import BenchConfig, load_bench_config
from hwnas.bench.latency import INPUT_SHAPE, NUM_CLASSES, fit_latency_predictor
from hwnas.bench.results import BenchResult, DeviceResult, RunRecord
from hwnas.bench.scoring import Truth
from hwnas.benchmarks_table import BenchmarkTable, load_table
from hwnas.errors import ConfigError, HwnasError
from hwnas.spaces.base import SearchSpace

__all__ = ["Progress", "run_bench"]

#: Called with a line of text after each search.
Progress = Callable[[str], None]


def run_bench(
    config: BenchConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    progress: Progress | None = None,
    **overrides: Any,
) -> BenchResult:
    """Run the benchmark.

    Args:
        config: A :class:`BenchConfig`, a mapping of its fields, a YAML path, or ``None``
            for the defaults.
        progress: Called with a line of text after each search.
        **overrides: Fields of :class:`BenchConfig` replacing those of ``config``
            (``strategies=["random"]``, ``seeds=3``...).

    Returns:
        The per-run figures and queried architectures (:class:`BenchResult`).

    Raises:
        ConfigError: A bad option (named), an unknown strategy or column.
        DataError: An unreadable table.
    """
    if config is None:
        cfg = BenchConfig()
    elif isinstance(config, BenchConfig):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = BenchConfig.from_mapping(config)
    else:
        cfg = load_bench_config(config)
    if overrides:
        cfg = cfg.updated(**{k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()
    table = load_table(cfg.table, arch_column=cfg.arch_column)
    space = _check_space(cfg, table)
    _column(table, cfg.accuracy_column, "accuracy_column")
    table.percent_scale(cfg.accuracy_column)  # refuses a column that holds no accuracies
    for column in cfg.device_columns:
        _column(table, column, "device_columns")
    missing = []
    for name in cfg.strategies:
        base, _ = cfg.base_strategy(name)
        if base in EXTERNAL_BASELINES:
            try:
                EXTERNAL_BASELINES[base].check()
            except HwnasError as why:
                missing.append((name, why))
    if missing and len(missing) == len(cfg.strategies):
        raise missing[0][1]
    if missing:
        # An external baseline whose package is not installed (Optuna): the others are
        # compared, and the left-out one is named.
        for name, reason in missing:
            warnings.warn(f"bench: {name} left out: {reason}", stacklevel=2)
        left_out = {name for name, _ in missing}
        cfg = cfg.updated(strategies=[s for s in cfg.strategies if s not in left_out])
    devices = {
        column: _bench_device(cfg, space, table, column, progress) for column in cfg.device_columns
    }
    return BenchResult(
        config=cfg,
        table_source=table.source,
        table_fingerprint=table.fingerprint,
        devices=devices,
        seconds=time.perf_counter() - started,
    )


def _bench_device(
    cfg: BenchConfig,
    space: SearchSpace,
    table: BenchmarkTable,
    column: str,
    progress: Progress | None,
) -> DeviceResult:
    """Every strategy with every seed on one latency column; the seed's predictor is fitted
    once and shared by the hwnas strategies."""
    truth = Truth(table, cfg.accuracy_column, column)
    device = DeviceResult(
        column=column,
        true_front=[table.archs[i] for i in truth.front_rows],
        true_hypervolume=truth.hv,
        bounds={
            "error": [float(truth.lower[0]), float(truth.upper[0])],
            "latency_ms": [float(truth.lower[1]), float(truth.upper[1])],
        },
    )
    for seed in cfg.seeds:
        predictor = None
        for name in cfg.strategies:
            t0 = time.perf_counter()
            base, options = cfg.base_strategy(name)
            if base in EXTERNAL_BASELINES:
                queried = EXTERNAL_BASELINES[base].run(
                    space, truth, seed, max(cfg.queries), options
                )
            else:
                if predictor is None:
                    predictor = fit_latency_predictor(
                        space,
                        table,
                        column,
                        seed,
                        cfg.profile_archs,
                        cfg.predictor,
                        features=cfg.predictor_features.split(","),
                    )
                queried = _run_hwnas(cfg, space, table, name, seed, predictor)
            rows = [table.row_of(a) for a in queried]
            regret, recall = truth.score(rows, cfg.queries)
            seconds = time.perf_counter() - t0
            device.runs.append(RunRecord(name, seed, queried, regret, recall, seconds))
            if progress is not None:
                progress(
                    f"{column} {name} seed {seed}: regret {100 * regret[-1]:.2f} %, "
                    f"recall {100 * recall[-1]:.1f} % at {min(len(rows), cfg.queries[-1])} "
                    f"queries ({seconds:.1f} s)"
                )
    return device


def _column(table: BenchmarkTable, name: str, field: str) -> np.ndarray:
    """A numeric column; a :class:`ConfigError` naming ``field`` and the known columns."""
    try:
        return table.column(name)
    except ConfigError as error:
        raise ConfigError(field, error.expected, name) from None


@functools.lru_cache(maxsize=4)
def _space_archs(space_name: str, fingerprint: str, table_fp: str, archs: tuple[str, ...]) -> int:
    from hwnas.spaces import create_space

    space = create_space(space_name)
    parsed = {space.parse(a) for a in archs}
    return len(parsed)


def _check_space(cfg: BenchConfig, table: BenchmarkTable) -> SearchSpace:
    """The space, checked to be exactly the table's architectures (every one, once)."""
    from hwnas.errors import ArchError
    from hwnas.spaces import create_space

    space = create_space(cfg.space)
    try:
        distinct = _space_archs(cfg.space, space.fingerprint(), table.fingerprint, table.archs)
    except ArchError as error:
        raise ConfigError(
            "table", f"architecture strings of space {cfg.space!r} ({error})", table.source
        ) from None
    if distinct != len(table) or space.size() != len(table):
        raise ConfigError(
            "table",
            f"one row for each of the {space.size()} architectures of space {cfg.space!r} "
            f"(every query must be answerable)",
            f"{table.source} with {len(table)} rows, {distinct} distinct architectures",
        )
    return space


def _run_hwnas(
    cfg: BenchConfig,
    space: SearchSpace,
    table: BenchmarkTable,
    name: str,
    seed: int,
    predictor: Any,
) -> list[str]:
    """One search through :func:`hwnas.search.run_search`; the queried archs in order."""
    from hwnas.evaluators.tabular import TabularEvaluator
    from hwnas.executors import InlineExecutor
    from hwnas.search import CheapMetrics, run_search
    from hwnas.store import RunStore
    from hwnas.strategies import create_strategy

    base, options = cfg.base_strategy(name)
    try:
        strategy = create_strategy(base, **options)
    except TypeError as error:
        raise ConfigError(
            f"strategy_options.{name}", "options of that strategy", str(error)
        ) from None
    factory = functools.partial(TabularEvaluator, space, cfg.accuracy_column, table)
    with RunStore(":memory:") as store:
        run_search(
            space=space,
            strategy=strategy,
            executor=InlineExecutor(factory),
            cheap=CheapMetrics(space, INPUT_SHAPE, NUM_CLASSES, latency=predictor),
            objectives=("error", "latency_ms"),
            budgets=(),
            store=store,
            seed=seed,
            batch_size=cfg.batch_size,
            max_evaluations=max(cfg.queries),
        )
        return [c.arch for c in store.candidates() if c.status == "done"]
