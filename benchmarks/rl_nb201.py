"""The ``rl`` strategy on NAS-Bench-201: multi-objective regret and single-objective accuracy.

(a) Multi-objective (``hwnas bench``, ``configs/nb201-bench.yaml`` settings): ``rl`` (its
    default ``pareto`` reward) against ``nsga2`` and Optuna's NSGA-II on every latency column
    of the table: HV regret and front recall after 50-300 accuracy queries. Target: rl's
    regret at 300 queries no worse than Optuna's on the median device column (the median
    over columns of each strategy's mean regret; the per-column ratios are listed too).
(b) Single objective, CIFAR-10, 300 queries, ``rl`` (reward ``accuracy``) and random search
    through the one search loop (``tabular`` evaluator): the best queried architecture's
    accuracy, mean ± std over seeds, against the NAS-Bench-201 paper's REINFORCE
    (93.85 ± 0.37 % test). The shipped table holds only the test accuracy after 200 epochs
    (no validation column), so the search reward and the selection use that column: an
    optimistic setting, which the random-search row puts in proportion.

    OMP_NUM_THREADS=1 nice python benchmarks/rl_nb201.py          # committed results
    python benchmarks/rl_nb201.py --seeds 2 --other-seeds 1 --out-prefix /tmp/quick
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwnas import __version__
from hwnas.bench import BenchResult, load_bench_config, run_bench
from hwnas.benchmarks_table import load_table
from hwnas.io import atomic_write_text

MAIN_DEVICES = ("pixel3_ms", "1080ti_1_ms")
STRATEGIES = ("rl", "nsga2", "optuna-nsga2")
PAPER_REINFORCE = (93.85, 0.37)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/nb201-bench.yaml")
    parser.add_argument("--seeds", type=int, default=10, help="seeds: main columns, part (b)")
    parser.add_argument("--other-seeds", type=int, default=3, help="seeds per other column")
    parser.add_argument("--seed-offset", type=int, default=100, help="first seed (held out)")
    parser.add_argument("--out-prefix", default="benchmarks/results/rl_nb201")
    args = parser.parse_args()

    config = load_bench_config(args.config)
    table = load_table(config.table, arch_column=config.arch_column)
    others = [c for c in table.latency_columns if c not in MAIN_DEVICES]
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    other_seeds = seeds[: args.other_seeds]
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)

    bench = functools.partial(run_bench, config, strategies=list(STRATEGIES), progress=progress)
    main_result = bench(device_columns=list(MAIN_DEVICES), seeds=seeds)
    other_result = bench(device_columns=others, seeds=other_seeds, queries=[300])
    single = {name: _single_objective(name, seeds) for name in ("rl", "random")}
    seconds = time.perf_counter() - started

    payload = {
        "benchmark": "rl_nb201",
        "hwnas": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "seconds": round(seconds, 1),
        "main": main_result.to_dict(rows=True),
        "devices": other_result.to_dict(rows=True),
        "single_objective": single,
    }
    prefix = Path(args.out_prefix)
    atomic_write_text(prefix.with_suffix(".json"), json.dumps(payload, separators=(",", ":")))
    report = _markdown(main_result, other_result, single, seconds)
    atomic_write_text(prefix.with_suffix(".md"), report)
    print(report)
    return 0


def _single_objective(name: str, seeds: list[int], queries: int = 300) -> dict[str, Any]:
    """Best CIFAR-10 accuracy among ``queries`` queried architectures, per seed."""
    from hwnas.evaluators import TabularEvaluator
    from hwnas.executors import InlineExecutor
    from hwnas.search import CheapMetrics, run_search
    from hwnas.spaces import NB201Space
    from hwnas.store import RunStore
    from hwnas.strategies import create_strategy

    space = NB201Space()
    best = []
    for seed in seeds:
        with RunStore(":memory:") as store:
            run_search(
                space=space,
                strategy=create_strategy(name),
                executor=InlineExecutor(lambda: TabularEvaluator(space)),
                cheap=CheapMetrics(space, (3, 32, 32), 10),
                objectives=("error",),
                budgets=(),
                store=store,
                seed=seed,
                batch_size=10,
                max_evaluations=queries,
            )
            done = [c for c in store.candidates() if c.status == "done"]
        best.append(100 * max(1 - c.metrics["error"] for c in done))
    return {
        "seeds": seeds,
        "best_test_pct": best,
        "mean": float(np.mean(best)),
        "std": float(np.std(best)),
    }


def _at(result: BenchResult, device: str, strategy: str, q: int = 300) -> dict[str, float]:
    return result.summary()[device][strategy][str(q)]


def _markdown(
    main_result: BenchResult,
    other_result: BenchResult,
    single: dict[str, dict[str, Any]],
    seconds: float,
) -> str:
    cfg = main_result.config
    lines = [
        "# `rl` on NAS-Bench-201 (`benchmarks/rl_nb201.py`)",
        "",
        "Scoring as in `strategies_nb201.md` (CIFAR-10 test error and one latency column, "
        "normalised over the table, reference (1, 1); hwnas strategies see latency through a "
        f"`{cfg.predictor}` predictor fitted on {cfg.profile_archs} profiled architectures; "
        "Optuna's NSGA-II gets the true latency). `rl` runs with its defaults (reward "
        "`pareto`). Seeds from 100 on (held out: the defaults were chosen on seeds 0-9 of the "
        f"two main columns). {seconds / 60:.0f} min on 1 CPU thread.",
        "",
        "## (a) Multi-objective",
        "",
        "Regret % (mean, median in brackets) and recall % after N accuracy queries:",
        "",
    ]
    for device in main_result.devices:
        lines += [
            f"### {device} ({len(main_result.config.seeds)} seeds)",
            "",
            "| strategy | " + " | ".join(f"regret@{q}" for q in cfg.queries) + " | recall@300 |",
            "|---|" + "---:|" * (len(cfg.queries) + 1),
        ]
        for name in STRATEGIES:
            cells = [
                f"{100 * _at(main_result, device, name, q)['regret_mean']:.2f} "
                f"({100 * _at(main_result, device, name, q)['regret_median']:.2f})"
                for q in cfg.queries
            ]
            recall = 100 * _at(main_result, device, name)["recall_mean"]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {recall:.1f} |")
        lines.append("")
    regret: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    lines += [
        f"### Every column at 300 queries (main: {len(main_result.config.seeds)} seeds, "
        f"others: {len(other_result.config.seeds)})",
        "",
        "| device | "
        + " | ".join(f"{n} regret % / recall %" for n in STRATEGIES)
        + " | rl / optuna regret |",
        "|---|" + "---:|" * (len(STRATEGIES) + 1),
    ]
    for result in (main_result, other_result):
        for device in result.devices:
            stats = {n: _at(result, device, n) for n in STRATEGIES}
            for n in STRATEGIES:
                regret[n].append(stats[n]["regret_mean"])
            ratio = stats["rl"]["regret_mean"] / max(stats["optuna-nsga2"]["regret_mean"], 1e-12)
            lines.append(
                f"| {device} | "
                + " | ".join(
                    f"{100 * stats[n]['regret_mean']:.2f} / {100 * stats[n]['recall_mean']:.0f}"
                    for n in STRATEGIES
                )
                + f" | {ratio:.2f}x |"
            )
    medians = {n: float(np.median(v)) for n, v in regret.items()}
    ratios = np.array(regret["rl"]) / np.maximum(np.array(regret["optuna-nsga2"]), 1e-12)
    met = medians["rl"] <= medians["optuna-nsga2"]
    lines += [
        "",
        "Median over the columns of the mean regret at 300 queries: "
        + ", ".join(f"{n} {100 * m:.2f} %" for n, m in medians.items())
        + f"; median rl / Optuna ratio {np.median(ratios):.2f}x; rl no worse than Optuna on "
        f"{int((ratios <= 1).sum())} of {len(ratios)} columns. Target (rl no worse than "
        f"Optuna's NSGA-II on the median column): **{'met' if met else 'missed'}** by the "
        f"median of the column means; per column, rl's regret is {ratios[0]:.1f}x and "
        f"{ratios[1]:.1f}x Optuna's on the two main columns ({len(main_result.config.seeds)} "
        f"seeds), and the other columns have only {len(other_result.config.seeds)} seeds "
        "each, so read this as parity at best, not a win. The verdict that counts comes "
        "from 10 seeds on every column: `nb201_all.md` (`benchmarks/nb201_all.py`).",
        "",
        "## (b) Single objective, CIFAR-10, 300 queries",
        "",
        "| strategy | best test accuracy % (mean ± std) | seeds |",
        "|---|---:|---:|",
    ]
    for name, row in single.items():
        lines.append(f"| {name} | {row['mean']:.2f} ± {row['std']:.2f} | {len(row['seeds'])} |")
    lines += [
        f"| NAS-Bench-201 paper, REINFORCE | {PAPER_REINFORCE[0]:.2f} ± {PAPER_REINFORCE[1]:.2f}"
        " | 500 runs |",
        "",
        "The table has no validation column: the search reward and the choice of the best "
        "architecture use the test accuracy, whereas the paper chose by validation and "
        "reported test. That makes this comparison optimistic for hwnas; random search "
        "scored the same way is the fair reference.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
