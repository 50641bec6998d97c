"""Every strategy on every NAS-Bench-201 device column, 10 held-out seeds (issue 12).

One :func:`hwnas.bench.run_bench` per (column, seed) with every strategy of ``--strategies``
(``configs/nb201-bench.yaml`` settings: ``lut+gbr`` latency predictor fitted on 300
profiled architectures of the column, batches of 10, 300 accuracy queries; ``nsga2+gp`` is
the label of ``nsga2`` with the GP accuracy predictor in the loop, see the config's
``strategy_options``), run in ``--workers`` processes. Each finished search is appended as
one JSON line to ``<out-prefix>.jsonl`` (strategy, column, seed, regret and recall at 50 /
100 / 200 / 300 queries, seconds, queried table rows), so an interrupted benchmark resumes
where it stopped and one strategy can be re-run alone (``--redo rl``). The summary
``<out-prefix>.md`` / ``.json`` is rebuilt from the lines every time:

* regret and recall at 300 queries, per column and strategy (means over the seeds);
* issue 12's targets: ``rl`` against Optuna's NSGA-II on the median column; ``nsga2+gp``
  against ``nsga2`` on the median column; the best strategy at half Optuna's regret and
  twice its recall on every column; mean seconds per search.

    OMP_NUM_THREADS=1 nice python benchmarks/nb201_all.py              # committed results
    python benchmarks/nb201_all.py --columns pixel3_ms --seeds 2 --out-prefix /tmp/quick
    python benchmarks/nb201_all.py --redo rl                         # after changing rl
    python benchmarks/nb201_all.py --report-only                     # rebuild the summary
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from hwnas import __version__
from hwnas.bench import load_bench_config, run_bench
from hwnas.benchmarks_table import load_table
from hwnas.io import atomic_write_text

STRATEGIES = (
    "surrogate-ehvi",
    "nsga2",
    "nsga2+gp",
    "evolution",
    "random",
    "rl",
    "differentiable",
    "optuna-nsga2",
)
OPTUNA = "optuna-nsga2"
BEST = "surrogate-ehvi"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/nb201-bench.yaml")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--columns", default=None, help="comma-separated (default: all 19)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--seed-offset", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redo", default="", help="strategies whose lines are dropped first")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--out-prefix", default="benchmarks/results/nb201_all")
    args = parser.parse_args()

    config = load_bench_config(args.config)
    table = load_table(config.table, arch_column=config.arch_column)
    strategies = [s for s in args.strategies.split(",") if s]
    config = config.updated(strategies=strategies, queries=[50, 100, 200, 300])
    columns = (
        [c for c in args.columns.split(",") if c] if args.columns else list(table.latency_columns)
    )
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    lines_path = Path(f"{args.out_prefix}.jsonl")
    records = _read(lines_path)
    redo = {s for s in args.redo.split(",") if s}
    if redo:
        records = [r for r in records if r["strategy"] not in redo]
        _write(lines_path, records)

    started = time.perf_counter()
    if not args.report_only:
        done = {(r["column"], r["seed"], r["strategy"]) for r in records}
        tasks = []
        for seed in seeds:
            for column in columns:
                missing = [s for s in strategies if (column, seed, s) not in done]
                if missing:
                    tasks.append((config.to_dict(), column, seed, missing))
        print(f"{len(tasks)} (column, seed) tasks to run", file=sys.stderr, flush=True)
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = [pool.submit(_task, *task) for task in tasks]
            for future in as_completed(futures):
                new = future.result()
                records += new
                with lines_path.open("a") as handle:  # one whole line per search
                    handle.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in new))
                elapsed = time.perf_counter() - started
                for r in new:
                    print(
                        f"[{elapsed:6.0f} s] {r['column']} {r['strategy']} seed {r['seed']}: "
                        f"regret {100 * r['regret'][-1]:.2f} % ({r['seconds']:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    summary = _summary(records, strategies, columns, seeds)
    summary.update(
        benchmark="nb201_all",
        hwnas=__version__,
        python=platform.python_version(),
        machine=platform.machine(),
        cpus=os.cpu_count(),
        config=config.to_dict(),
    )
    prefix = Path(args.out_prefix)
    atomic_write_text(prefix.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    report = _markdown(summary, prefix.name)
    atomic_write_text(prefix.with_suffix(".md"), report)
    print(report)
    return 0


def _task(config: dict[str, Any], column: str, seed: int, strategies: list[str]) -> list[dict]:
    """Every strategy of ``strategies`` with one seed on one column (one predictor fit)."""
    result = run_bench(config, strategies=strategies, device_columns=[column], seeds=[seed])
    table = load_table(result.config.table, arch_column=result.config.arch_column)
    out = []
    for run in result.devices[column].runs:
        out.append(
            {
                "column": column,
                "strategy": run.strategy,
                "seed": seed,
                "queries": list(result.config.queries),
                "regret": [round(v, 7) for v in run.regret],
                "recall": [round(v, 5) for v in run.recall],
                "seconds": round(run.seconds, 2),
                "rows": [table.row_of(a) for a in run.queries],
            }
        )
    return out


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:  # a line cut by a kill: that search runs again
            continue
    return records


def _write(path: Path, records: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def _summary(
    records: list[dict], strategies: list[str], columns: list[str], seeds: list[int]
) -> dict[str, Any]:
    """Means over seeds per column and strategy, and the targets of issue 12."""
    cell: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in columns}
    for column in columns:
        for strategy in strategies:
            runs = [
                r
                for r in records
                if r["column"] == column and r["strategy"] == strategy and r["seed"] in seeds
            ]
            if not runs:
                continue
            regret = np.array([r["regret"] for r in runs])
            recall = np.array([r["recall"] for r in runs])
            cell[column][strategy] = {
                "seeds": len(runs),
                "queries": runs[0]["queries"],
                "regret_mean": [float(v) for v in regret.mean(axis=0)],
                "regret_median": [float(v) for v in np.median(regret, axis=0)],
                "recall_mean": [float(v) for v in recall.mean(axis=0)],
                "seconds_mean": float(np.mean([r["seconds"] for r in runs])),
            }
    complete = [c for c in columns if all(s in cell[c] for s in strategies)]
    return {
        "columns": columns,
        "strategies": strategies,
        "seeds": seeds,
        "complete_columns": complete,
        "cells": cell,
        "targets": _targets(cell, complete, strategies),
    }


def _at300(cell: dict[str, Any], key: str) -> float:
    return float(cell[key][-1])


def _median_column(cell: dict, columns: list[str], strategy: str) -> str | None:
    """The column whose ``strategy`` regret at 300 queries is the median over ``columns``
    (the lower middle one for an even count)."""
    if not columns:
        return None
    ordered = sorted(columns, key=lambda c: _at300(cell[c][strategy], "regret_mean"))
    return ordered[(len(ordered) - 1) // 2]


def _targets(cell: dict, columns: list[str], strategies: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def regret(c: str, s: str) -> float:
        return _at300(cell[c][s], "regret_mean")

    def recall(c: str, s: str) -> float:
        return _at300(cell[c][s], "recall_mean")

    if OPTUNA in strategies and "rl" in strategies and columns:
        median = _median_column(cell, columns, OPTUNA)
        assert median is not None
        out["rl_vs_optuna"] = {
            "median_column": median,
            "rl_regret": regret(median, "rl"),
            "optuna_regret": regret(median, OPTUNA),
            "met_on_median_column": regret(median, "rl") <= regret(median, OPTUNA),
            "median_over_columns": {
                "rl": float(np.median([regret(c, "rl") for c in columns])),
                "optuna": float(np.median([regret(c, OPTUNA) for c in columns])),
            },
            "columns_no_worse": sum(regret(c, "rl") <= regret(c, OPTUNA) for c in columns),
        }
    if "nsga2" in strategies and "nsga2+gp" in strategies and columns:
        median = _median_column(cell, columns, "nsga2")
        assert median is not None
        ratios = [regret(c, "nsga2+gp") / regret(c, "nsga2") for c in columns]
        out["nsga2_gp_vs_nsga2"] = {
            "median_column": median,
            "ratio_on_median_column": regret(median, "nsga2+gp") / regret(median, "nsga2"),
            "median_ratio": float(np.median(ratios)),
            "columns_at_most_half": sum(r <= 0.5 for r in ratios),
        }
    if OPTUNA in strategies and columns:
        per_strategy = {}
        for s in strategies:
            if s == OPTUNA:
                continue
            regret_ok = [regret(c, s) <= 0.5 * regret(c, OPTUNA) for c in columns]
            recall_ok = [recall(c, s) >= 2 * recall(c, OPTUNA) > 0 for c in columns]
            per_strategy[s] = {
                "regret_half": sum(regret_ok),
                "recall_twice": sum(recall_ok),
                "both": sum(a and b for a, b in zip(regret_ok, recall_ok, strict=True)),
                "short": [
                    c
                    for c, a, b in zip(columns, regret_ok, recall_ok, strict=True)
                    if not (a and b)
                ],
            }
        out["half_regret_twice_recall"] = per_strategy
    if columns:
        ranks = np.array(
            [
                _ranks([regret(c, s) for s in strategies])
                for c in columns  # 1 = lowest regret on that column
            ]
        )
        out["mean_rank"] = {s: float(ranks[:, i].mean()) for i, s in enumerate(strategies)}
    return out


def _ranks(values: list[float]) -> list[float]:
    order = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return [float(v + 1) for v in order]


def _header(strategies: list[str]) -> list[str]:
    return ["| column | " + " | ".join(strategies) + " |", "|---|" + "---:|" * len(strategies)]


def _markdown(summary: dict[str, Any], name: str) -> str:
    strategies, columns = summary["strategies"], summary["complete_columns"]
    cell, seeds = summary["cells"], summary["seeds"]
    lines = [
        "# Every strategy on every NAS-Bench-201 device column (`benchmarks/nb201_all.py`)",
        "",
        "CIFAR-10 test error against one latency column at a time, both min-max normalised "
        "over the table, reference point (1, 1); **regret** = 1 - HV(queried front) / HV(true "
        "front) on TRUE table values, **recall** = share of the true front queried. hwnas "
        "strategies see latency only through a `lut+gbr` predictor fitted on 300 profiled "
        "architectures of the column (not counted as queries); `optuna-nsga2` (Optuna's "
        "NSGAIISampler, population 20) is given the TRUE latency. "
        f"Seeds {seeds[0]}-{seeds[-1]} (held out: defaults were tuned on seeds 0-9). "
        f"{len(columns)} of {len(summary['columns'])} columns complete. Every search is a "
        f"line of `{name}.jsonl` (regret, recall, seconds, queried table rows). Machine: "
        f"{summary['machine']}, {summary['cpus']} CPUs, hwnas {summary['hwnas']}, "
        f"Python {summary['python']}. Regenerate with `OMP_NUM_THREADS=1 python "
        "benchmarks/nb201_all.py` (two searches at a time; about 80 min on this project's 2-core "
        "VM, session 7); `seconds` below are per search on one thread.",
        "",
        "## Regret % at 300 queries (mean over seeds; lowest in bold)",
        "",
        *_header(strategies),
    ]
    for c in columns:
        values = [100 * _at300(cell[c][s], "regret_mean") for s in strategies]
        best = min(values)
        lines.append(
            f"| {c} | "
            + " | ".join(f"**{v:.2f}**" if v == best else f"{v:.2f}" for v in values)
            + " |"
        )
    if columns:
        medians = [
            100 * float(np.median([_at300(cell[c][s], "regret_mean") for c in columns]))
            for s in strategies
        ]
        lines.append("| median of columns | " + " | ".join(f"{v:.2f}" for v in medians) + " |")
        ranks = summary["targets"]["mean_rank"]
        lines.append("| mean rank | " + " | ".join(f"{ranks[s]:.1f}" for s in strategies) + " |")
    lines += [
        "",
        "## Recall % at 300 queries (mean over seeds)",
        "",
        *_header(strategies),
    ]
    for c in columns:
        lines.append(
            f"| {c} | "
            + " | ".join(f"{100 * _at300(cell[c][s], 'recall_mean'):.1f}" for s in strategies)
            + " |"
        )
    lines += [
        "",
        "## Regret % at 50 / 100 / 300 queries, median of the column means",
        "",
        "| strategy | @50 | @100 | @200 | @300 | seconds per search (mean) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in strategies:
        if not columns:
            break
        at = np.median(np.array([cell[c][s]["regret_mean"] for c in columns]), axis=0)
        secs = np.mean([cell[c][s]["seconds_mean"] for c in columns])
        lines.append(f"| {s} | " + " | ".join(f"{100 * v:.2f}" for v in at) + f" | {secs:.1f} |")
    targets = summary["targets"]
    lines += ["", "## Issue 12's targets (300 queries)", ""]
    if "rl_vs_optuna" in targets:
        t = targets["rl_vs_optuna"]
        verdict = "met" if t["met_on_median_column"] else "not met"
        lines.append(
            f"- `rl` no worse than Optuna's NSGA-II on the median column (the median of "
            f"Optuna's column regrets: `{t['median_column']}`): rl {100 * t['rl_regret']:.2f} % "
            f"vs {100 * t['optuna_regret']:.2f} %: **{verdict}**. "
            f"Median over columns: rl {100 * t['median_over_columns']['rl']:.2f} %, Optuna "
            f"{100 * t['median_over_columns']['optuna']:.2f} %; rl no worse on "
            f"{t['columns_no_worse']} of {len(columns)} columns."
        )
    if "nsga2_gp_vs_nsga2" in targets:
        t = targets["nsga2_gp_vs_nsga2"]
        lines.append(
            f"- `nsga2+gp` at most half of plain `nsga2`'s regret on the median column "
            f"(`{t['median_column']}`): {t['ratio_on_median_column']:.2f}x: "
            f"**{'met' if t['ratio_on_median_column'] <= 0.5 else 'not met'}**; median ratio "
            f"over columns {t['median_ratio']:.2f}x, at most half on {t['columns_at_most_half']} "
            f"of {len(columns)}."
        )
    if "half_regret_twice_recall" in targets:
        lines += [
            f"- Half Optuna's regret and twice its recall, columns met (of {len(columns)}):",
            "",
            "| strategy | regret half | recall twice | both | short on |",
            "|---|---:|---:|---:|---|",
        ]
        for s, t in targets["half_regret_twice_recall"].items():
            short = ", ".join(t["short"]) if len(t["short"]) <= 6 else f"{len(t['short'])} columns"
            lines.append(
                f"| {s} | {t['regret_half']} | {t['recall_twice']} | {t['both']} | {short} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
