"""Warm start across tasks (Transfer Neural AutoML): does an earlier ``rl`` run cut the
evaluations a new search needs? (issue 12, item 5)

A source search (``rl``, its defaults, 300 queries, seed 0) runs on one task of the
NAS-Bench-201 table; its controller's ``state_dict`` is saved as JSON. Then every target
task is searched by ``rl`` from scratch and by ``rl`` with ``warm_start`` set to that file,
with ``--seeds`` held-out seeds each (``hwnas bench`` scoring: hypervolume regret of
CIFAR error against the column's latency, and recall of the true front). Two transfers:

- **device**: the source is CIFAR-10 on another device's latency column (a server CPU,
  ``--source-device``), the targets are the two main columns (a phone, a GPU);
- **dataset**: the source is CIFAR-100 on the target's own latency column, the target
  CIFAR-10.

Reported per target: regret and recall after 25/50/100/200/300 queries, cold and warm, and
the queries the warm start needed to reach the cold start's regret at 300 (the
"evaluations needed"). The latency predictor is fitted as ``hwnas bench`` fits it.

    OMP_NUM_THREADS=1 python benchmarks/warm_start_nb201.py        # the committed results
    python benchmarks/warm_start_nb201.py --seeds 2 --out-prefix /tmp/warm

Writes ``benchmarks/results/warm_start_nb201.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwnas import __version__
from hwnas.io import atomic_write_text

TARGETS = ("pixel3_ms", "1080ti_1_ms")
QUERIES = [25, 50, 100, 200, 300]


def source_state(cfg: Any, column: str, accuracy: str, path: Path) -> Path:
    """Run the source ``rl`` search (seed 0) and save its ``state_dict`` to ``path``."""
    from hwnas.bench.latency import fit_latency_predictor
    from hwnas.benchmarks_table import load_table
    from hwnas.evaluators.tabular import TabularEvaluator
    from hwnas.executors import InlineExecutor
    from hwnas.search import CheapMetrics, run_search
    from hwnas.spaces import NB201Space
    from hwnas.store import RunStore
    from hwnas.strategies import create_strategy

    space, table = NB201Space(), load_table(cfg.table, arch_column=cfg.arch_column)
    predictor = fit_latency_predictor(
        space, table, column, 0, cfg.profile_archs, cfg.predictor,
        features=cfg.predictor_features.split(","),
    )  # fmt: skip
    strategy = create_strategy("rl")
    with RunStore(":memory:") as store:
        run_search(
            space=space,
            strategy=strategy,
            executor=InlineExecutor(lambda: TabularEvaluator(space, accuracy, table)),
            cheap=CheapMetrics(space, (3, 32, 32), 10, latency=predictor),
            objectives=("error", "latency_ms"),
            budgets=(),
            store=store,
            seed=0,
            batch_size=cfg.batch_size,
            max_evaluations=300,
        )
    path.write_text(json.dumps(strategy.state_dict()))
    return path


def needed(regret_curve: list[float], queries: list[int], goal: float) -> int | None:
    """The first number of queries at which ``regret_curve`` is at most ``goal``."""
    for q, r in zip(queries, regret_curve, strict=True):
        if r <= goal:
            return q
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/nb201-bench.yaml")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--seed-offset", type=int, default=100)
    parser.add_argument("--source-device", default="gold_6240_ms")
    parser.add_argument("--out-prefix", default="benchmarks/results/warm_start_nb201")
    args = parser.parse_args(argv)

    from hwnas.bench import load_bench_config, run_bench

    cfg = load_bench_config(args.config)
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    dense = sorted(set(QUERIES) | set(range(10, 301, 10)))
    started = time.perf_counter()
    transfers = []
    with tempfile.TemporaryDirectory() as tmp:
        plans = [("device", args.source_device, "acc_cifar10_test", TARGETS)]
        plans += [("dataset", column, "acc_cifar100_test", (column,)) for column in TARGETS]
        for kind, source_column, source_accuracy, targets in plans:
            state = source_state(
                cfg, source_column, source_accuracy, Path(tmp) / f"{kind}-{source_column}.json"
            )
            for target in targets:
                curves = {}
                for label, options in (("cold", {}), ("warm", {"warm_start": str(state)})):
                    result = run_bench(
                        cfg,
                        strategies=["rl"],
                        device_columns=[target],
                        seeds=seeds,
                        queries=dense,
                        strategy_options={**cfg.strategy_options, "rl": options},
                    )
                    runs = result.devices[target].runs
                    curves[label] = {
                        "regret": np.array([r.regret for r in runs]),
                        "recall": np.array([r.recall for r in runs]),
                    }
                    print(
                        f"[{time.perf_counter() - started:5.0f} s] {kind} {target} {label}: "
                        f"regret@300 {100 * curves[label]['regret'][:, -1].mean():.2f} %",
                        file=sys.stderr,
                        flush=True,
                    )
                transfers.append(
                    summarise(kind, source_column, source_accuracy, target, curves, dense)
                )
    out = {
        "benchmark": "warm_start_nb201",
        "command": "python benchmarks/warm_start_nb201.py " + " ".join(argv or sys.argv[1:]),
        "hwnas": __version__,
        "python": platform.python_version(),
        "seeds": seeds,
        "seconds": round(time.perf_counter() - started, 1),
        "transfers": transfers,
    }
    prefix = Path(args.out_prefix)
    atomic_write_text(prefix.with_suffix(".json"), json.dumps(out, indent=1))
    atomic_write_text(prefix.with_suffix(".md"), markdown(out))
    print(markdown(out))
    return 0


def summarise(
    kind: str,
    source_column: str,
    source_accuracy: str,
    target: str,
    curves: dict[str, dict[str, np.ndarray]],
    dense: list[int],
) -> dict[str, Any]:
    """Mean curves at :data:`QUERIES` and the queries each warm seed needed to reach the
    cold mean regret at 300."""
    at = [dense.index(q) for q in QUERIES]
    goal = float(curves["cold"]["regret"][:, -1].mean())
    warm_needed = [needed(list(r), dense, goal) for r in curves["warm"]["regret"]]
    cold_needed = [needed(list(r), dense, goal) for r in curves["cold"]["regret"]]
    return {
        "transfer": kind,
        "source": {"latency": source_column, "accuracy": source_accuracy},
        "target": {"latency": target, "accuracy": "acc_cifar10_test"},
        "queries": QUERIES,
        **{
            label: {
                "regret_mean": [float(v) for v in curves[label]["regret"][:, at].mean(axis=0)],
                "recall_mean": [float(v) for v in curves[label]["recall"][:, at].mean(axis=0)],
            }
            for label in ("cold", "warm")
        },
        "cold_regret_at_300": goal,
        "queries_to_cold_300": {"warm": warm_needed, "cold": cold_needed},
    }


def _median_needed(values: list[int | None]) -> str:
    reached = sorted(v for v in values if v is not None)
    if len(reached) * 2 <= len(values):
        return f"> 300 ({len(reached)}/{len(values)} reached)"
    median = int(np.median([v if v is not None else 10**6 for v in values]))
    return f"{median} ({len(reached)}/{len(values)} reached)"


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Warm start across tasks: `rl` on NAS-Bench-201 (`benchmarks/warm_start_nb201.py`)",
        "",
        f"`{out['command']}`; seeds {out['seeds'][0]}-{out['seeds'][-1]}; "
        f"{out['seconds'] / 60:.0f} min on 1 CPU thread. Source: `rl` (defaults, seed 0, 300 "
        "queries) on the source task; its controller is the warm start. Regret % / recall % "
        "(means over seeds) after N queries; 'queries needed': per seed, the first multiple "
        "of 10 queries at which the regret is at most the cold start's mean regret at 300 "
        "(median over seeds, and how many seeds got there).",
        "",
    ]
    for t in out["transfers"]:
        lines += [
            f"## {t['transfer']}: {t['source']['accuracy']} / {t['source']['latency']} -> "
            f"{t['target']['accuracy']} / {t['target']['latency']}",
            "",
            "| start | " + " | ".join(f"@{q}" for q in t["queries"]) + " | queries needed |",
            "|---|" + "---:|" * (len(t["queries"]) + 1),
        ]
        for label in ("cold", "warm"):
            cells = [
                f"{100 * r:.2f} / {100 * c:.0f}"
                for r, c in zip(t[label]["regret_mean"], t[label]["recall_mean"], strict=True)
            ]
            lines.append(
                f"| {label} | " + " | ".join(cells) + f" | "
                f"{_median_needed(t['queries_to_cold_300'][label])} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
