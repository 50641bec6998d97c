"""NSGA-II with the accuracy predictor in the loop vs plain NSGA-II on NAS-Bench-201.

Runs :func:`hwnas.bench.run_bench` (``configs/nb201-bench.yaml`` settings: ``lut+gbr``
latency predictor on 300 profiled architectures, batches of 10, 300 queries) twice per
column, for ``nsga2`` (population 20) and ``nsga2`` with ``predictor: gp`` (population 20,
inner search of 20 generations x 100), and writes ``<out-prefix>.json`` (every run's regret,
recall, queried architectures) and ``<out-prefix>.md``. Issue 12's target: at 300 queries,
at most half the regret of plain ``nsga2`` on the median column (``samsung_s7_ms``: the
median of plain nsga2's regret over the 19 columns in ``strategies_nb201.md``).

    OMP_NUM_THREADS=1 nice python benchmarks/nsga2_assisted_nb201.py \\
        --columns samsung_s7_ms,pixel3_ms,1080ti_1_ms,gold_6240_ms --seeds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from hwnas import __version__
from hwnas.bench import load_bench_config, run_bench
from hwnas.benchmarks_table import load_table
from hwnas.io import atomic_write_text

MEDIAN_COLUMN = "samsung_s7_ms"
VARIANTS = {
    "nsga2": {"population": 20},
    "nsga2+gp": {"population": 20, "predictor": "gp"},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/nb201-bench.yaml")
    parser.add_argument("--columns", default=MEDIAN_COLUMN, help="comma-separated columns")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed-offset", type=int, default=100)
    parser.add_argument("--out-prefix", default="benchmarks/results/nsga2_assisted_nb201")
    args = parser.parse_args()
    config = load_bench_config(args.config)
    table = load_table(config.table, arch_column=config.arch_column)
    columns = [c for c in args.columns.split(",") if c]
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)

    runs: dict[str, dict[str, list[dict]]] = {c: {} for c in columns}
    for variant, options in VARIANTS.items():
        result = run_bench(
            config,
            strategies=["nsga2"],
            strategy_options={"nsga2": options},
            device_columns=columns,
            seeds=seeds,
            progress=lambda line, v=variant: progress(f"{v}: {line}"),
        )
        for column, device in result.devices.items():
            runs[column][variant] = [
                {
                    "seed": r.seed,
                    "regret": list(map(float, r.regret)),
                    "recall": list(map(float, r.recall)),
                    "seconds": r.seconds,
                    # Row numbers of the table (``load_table().archs[row]``), in query order.
                    "queried": [table.row_of(a) for a in r.queries],
                }
                for r in device.runs
            ]
    data = {
        "command": " ".join(["python", *sys.argv]),
        "machine": f"{_cpu()}, {os.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
        "hwnas": __version__,
        "queries": list(config.queries),
        "seeds": seeds,
        "variants": VARIANTS,
        "seconds": time.perf_counter() - started,
        "runs": runs,
    }
    atomic_write_text(f"{args.out_prefix}.json", json.dumps(data, indent=1))
    atomic_write_text(f"{args.out_prefix}.md", _markdown(data))
    print(_markdown(data))
    return 0


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if "model name" in line]
    except OSError:
        names = []
    return names[0] if names else platform.machine()


def _markdown(data: dict) -> str:
    queries = data["queries"]
    lines = [
        "# NSGA-II with an accuracy predictor in the loop (`benchmarks/nsga2_assisted_nb201.py`)",
        "",
        f"Command: `OMP_NUM_THREADS=1 nice {data['command']}` on {data['machine']}; "
        f"seeds {data['seeds'][0]}-{data['seeds'][-1]}; "
        f"{data['seconds']:.0f} s in all. Setting as `strategies_nb201.md` (CIFAR-10 error vs "
        "the column's latency, `lut+gbr` predictor on 300 profiled architectures, batches "
        "of 10). Regret % (mean, median in brackets), recall % (mean); ratio = mean regret "
        "of nsga2+gp / nsga2 at the last query count (target <= 0.5 on the median column, "
        f"{MEDIAN_COLUMN}).",
        "",
        "| column | variant | "
        + " | ".join(f"regret@{q}" for q in queries)
        + f" | recall@{queries[-1]} | s/search | ratio |",
        "|---|---|" + "---:|" * (len(queries) + 3),
    ]
    for column, variants in data["runs"].items():
        means = {}
        for variant, runs in variants.items():
            regret = 100 * np.array([r["regret"] for r in runs])
            recall = 100 * np.array([r["recall"] for r in runs])
            means[variant] = regret[:, -1].mean()
            cells = [
                f"{m:.2f} ({d:.2f})"
                for m, d in zip(regret.mean(0), np.median(regret, 0), strict=True)
            ]
            seconds = np.mean([r["seconds"] for r in runs])
            ratio = ""
            if variant != "nsga2" and means.get("nsga2"):
                ratio = f"{means[variant] / means['nsga2']:.2f}x"
            lines.append(
                f"| {column} | {variant} | "
                + " | ".join(cells)
                + f" | {recall[:, -1].mean():.1f} | {seconds:.1f} | {ratio} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
