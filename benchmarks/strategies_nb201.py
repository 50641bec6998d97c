"""Search strategies on NAS-Bench-201: hypervolume regret and true-front recall vs queries.

Runs :func:`hwnas.bench.run_bench` (``configs/nb201-bench.yaml``: surrogate-ehvi, nsga2,
evolution, random and Optuna's NSGA-II) in two parts:

* main: CIFAR-10 error vs Pixel 3 and vs 1080 Ti batch-1 latency, 10 seeds, figures at 50,
  100, 200 and 300 accuracy queries;
* devices: the 17 other latency columns of the table, fewer seeds, at 300 queries.

and writes ``benchmarks/results/strategies_nb201.{json,csv,md,png}`` and
``strategies_nb201_devices.png``. The JSON holds every run's regret, recall and queried
architectures (as row numbers of the shipped table: ``load_table().archs[row]``), so every
figure can be recomputed.

    OMP_NUM_THREADS=1 nice python benchmarks/strategies_nb201.py            # committed results
    python benchmarks/strategies_nb201.py --seeds 2 --other-seeds 1 --out-prefix /tmp/quick
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from hwnas import __version__
from hwnas.bench import BenchResult, load_bench_config, plot_bench, run_bench
from hwnas.benchmarks_table import load_table
from hwnas.io import atomic_write_bytes, atomic_write_text

MAIN_DEVICES = ("pixel3_ms", "1080ti_1_ms")
OURS = "surrogate-ehvi"
BASELINE = "optuna-nsga2"
#: The table README's reference figures at 300 queries: (regret, recall) of Optuna's NSGA-II
#: and the regret of random search.
REFERENCE = {
    "pixel3_ms": {"optuna_regret": 0.0041, "optuna_recall": 0.05, "random_regret": 0.015},
    "1080ti_1_ms": {"optuna_regret": 0.0068, "optuna_recall": 0.19, "random_regret": 0.062},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/nb201-bench.yaml")
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the main part")
    parser.add_argument("--other-seeds", type=int, default=5, help="seeds per other device")
    parser.add_argument(
        "--seed-offset",
        type=int,
        default=100,
        help="first seed (the strategy's defaults were tuned on seeds 0-9; the committed "
        "figures use seeds from 100 on)",
    )
    parser.add_argument("--others", default=None, help="comma-separated other columns")
    parser.add_argument("--out-prefix", default="benchmarks/results/strategies_nb201")
    args = parser.parse_args()

    config = load_bench_config(args.config)
    table = load_table(config.table, arch_column=config.arch_column)
    others = (
        [c for c in args.others.split(",") if c]
        if args.others
        else [c for c in table.latency_columns if c not in MAIN_DEVICES]
    )
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)

    main_seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    other_seeds = list(range(args.seed_offset, args.seed_offset + args.other_seeds))
    main_result = run_bench(
        config, device_columns=list(MAIN_DEVICES), seeds=main_seeds, progress=progress
    )
    other_result = run_bench(
        config, device_columns=others, seeds=other_seeds, queries=[300], progress=progress
    )
    # Diagnostic: the same searches given the TRUE latency (as Optuna is), to separate the
    # strategy from the latency predictor. Not a benchmark setting (no profiling budget).
    exact_result = run_bench(
        config,
        strategies=[OURS],
        device_columns=list(MAIN_DEVICES),
        seeds=main_seeds,
        predictor="exact",
        progress=progress,
    )
    seconds = time.perf_counter() - started

    prefix = Path(args.out_prefix)
    payload = {
        "benchmark": "strategies_nb201",
        "hwnas": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "seconds": round(seconds, 1),
        "reference": REFERENCE,
        "main": main_result.to_dict(rows=True),
        "devices": other_result.to_dict(rows=True),
        "diagnostic_exact_latency": exact_result.to_dict(rows=True),
    }
    # Compact: about 550 runs of 300 queried rows each.
    atomic_write_text(prefix.with_suffix(".json"), json.dumps(payload, separators=(",", ":")))
    atomic_write_text(prefix.with_suffix(".csv"), _csv(main_result, other_result))
    plot_bench(main_result, prefix.with_suffix(".png"))
    _plot_devices(other_result, main_result, Path(f"{prefix}_devices.png"))
    report = _markdown(main_result, other_result, exact_result, seconds, prefix.name)
    atomic_write_text(prefix.with_suffix(".md"), report)
    print(report)
    return 0


def _rows(result: BenchResult, part: str) -> list[dict[str, object]]:
    rows = []
    for device, per_strategy in result.summary().items():
        for strategy, per_query in per_strategy.items():
            for q, stats in per_query.items():
                rows.append({"part": part, "device": device, "strategy": strategy, "queries": q})
                rows[-1].update({k: round(float(v), 6) for k, v in stats.items()})
    return rows


def _csv(main_result: BenchResult, other_result: BenchResult) -> str:
    rows = _rows(main_result, "main") + _rows(other_result, "devices")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _at(result: BenchResult, device: str, strategy: str, q: int = 300) -> dict[str, float]:
    return result.summary()[device][strategy][str(q)]


def _verdict(ours: dict[str, float], base_regret: float, base_recall: float) -> str:
    regret_ok = ours["regret_mean"] <= 0.5 * base_regret
    recall_ok = ours["recall_mean"] >= 2 * base_recall and ours["recall_mean"] > 0
    regret_ratio = f"{ours['regret_mean'] / base_regret:.2f}x" if base_regret > 0 else "n/a"
    recall_ratio = f"{ours['recall_mean'] / base_recall:.1f}x" if base_recall > 0 else "n/a"
    return (
        f"{'yes' if regret_ok else 'no'} ({regret_ratio}) / "
        f"{'yes' if recall_ok else 'no'} ({recall_ratio})"
    )


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _markdown(
    main_result: BenchResult,
    other_result: BenchResult,
    exact_result: BenchResult,
    seconds: float,
    name: str,
) -> str:
    cfg = main_result.config
    strategies = list(cfg.strategies)
    lines = [
        "# Search strategies on NAS-Bench-201 (`benchmarks/strategies_nb201.py`)",
        "",
        "Objectives: CIFAR-10 test error (`acc_cifar10_test`) and latency of one device column "
        "of the shipped table, both min-max normalised over the whole table, reference point "
        "(1, 1). **Regret** = 1 - HV(front of the queried architectures) / HV(true front), "
        "on their TRUE table values; **recall** = share of the true front's architectures "
        "queried. hwnas strategies run through `run_search` and see latency only through a "
        f"`{cfg.predictor}` latency predictor fitted on {cfg.profile_archs} architectures of "
        "that column drawn with the seed (profiling, not counted as queries). "
        f"`{BASELINE}` is Optuna's `NSGAIISampler` (population 20, categorical parameter per "
        "edge) given the TRUE latency. Seeds "
        f"{cfg.seeds[0]}-{cfg.seeds[-1]}; the defaults of `{OURS}` were tuned on seeds 0-9 of "
        "the two main devices (its PoND share also on samsung_a50_ms, titanx_32_ms and "
        "1080ti_32_ms), so these seeds are held out. Regenerate with "
        "`OMP_NUM_THREADS=1 python benchmarks/strategies_nb201.py` "
        f"({seconds / 60:.0f} min on 1 CPU thread); `{name}.json` holds every run's queried "
        "architectures (row numbers of the table).",
        "",
    ]
    for device in main_result.devices:
        front = len(main_result.devices[device].true_front)
        lines += [
            f"## {device} ({front} architectures on the true front, {len(cfg.seeds)} seeds)",
            "",
            "Regret % (mean, median in brackets) and recall % (mean) after N accuracy queries:",
            "",
            "| strategy | "
            + " | ".join(f"regret@{q}" for q in cfg.queries)
            + " | "
            + " | ".join(f"recall@{q}" for q in cfg.queries)
            + " |",
            "|---|" + "---:|" * (2 * len(cfg.queries)),
        ]
        for strategy in strategies:
            stats = main_result.summary()[device][strategy]
            regret = [
                f"{_pct(stats[str(q)]['regret_mean'])} ({_pct(stats[str(q)]['regret_median'])})"
                for q in cfg.queries
            ]
            recall = [f"{100 * stats[str(q)]['recall_mean']:.1f}" for q in cfg.queries]
            lines.append(f"| {strategy} | " + " | ".join(regret + recall) + " |")
        lines.append("")
    lines += [
        "## Target: at most half of Optuna's regret, at least twice its recall (300 queries)",
        "",
        f"`{OURS}` against the README's reference numbers for Optuna (main devices) and "
        f"against `{BASELINE}` as measured here (same seeds); each cell: met? (ratio).",
        "",
        "| device | seeds | ours regret % | ours recall % | Optuna here regret % / recall % "
        "| vs README Optuna: regret / recall | vs Optuna here: regret / recall |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    met = {"readme": [0, 0], "here": [0, 0]}
    for result in (main_result, other_result):
        for device in result.devices:
            ours = _at(result, device, OURS)
            base = _at(result, device, BASELINE)
            here = _verdict(ours, base["regret_mean"], base["recall_mean"])
            met["here"][0] += here.count("yes") == 2
            met["here"][1] += 1
            if device in REFERENCE:
                ref = REFERENCE[device]
                readme = _verdict(ours, ref["optuna_regret"], ref["optuna_recall"])
                met["readme"][0] += readme.count("yes") == 2
                met["readme"][1] += 1
            else:
                readme = "-"
            lines.append(
                f"| {device} | {ours['seeds']} | {_pct(ours['regret_mean'])} | "
                f"{100 * ours['recall_mean']:.1f} | {_pct(base['regret_mean'])} / "
                f"{100 * base['recall_mean']:.1f} | {readme} | {here} |"
            )
    lines += [
        "",
        f"Both parts of the target met: {met['readme'][0]} of {met['readme'][1]} main devices "
        f"against the README's Optuna figures; {met['here'][0]} of {met['here'][1]} devices "
        "against Optuna as measured here.",
        "",
        f"Diagnostic: `{OURS}` given the TRUE latency instead of the predictor (like Optuna; "
        "no profiling budget, not a valid benchmark setting), same seeds, 300 queries: "
        + "; ".join(
            f"{device} regret {_pct(_at(exact_result, device, OURS)['regret_mean'])} %, "
            f"recall {100 * _at(exact_result, device, OURS)['recall_mean']:.1f} %"
            for device in exact_result.devices
        )
        + ".",
        "",
        f"## Other devices at 300 queries ({len(other_result.config.seeds)} seeds each)",
        "",
        "| device | front | " + " | ".join(f"{s} regret % / recall %" for s in strategies) + " |",
        "|---|---:|" + "---:|" * len(strategies),
    ]
    for device, dev in other_result.devices.items():
        cells = []
        for strategy in strategies:
            stats = _at(other_result, device, strategy)
            cells.append(f"{_pct(stats['regret_mean'])} / {100 * stats['recall_mean']:.0f}")
        lines.append(f"| {device} | {len(dev.true_front)} | " + " | ".join(cells) + " |")
    mean_time = {
        s: np.mean(
            [r.seconds for d in main_result.devices.values() for r in d.runs if r.strategy == s]
        )
        for s in strategies
    }
    lines += [
        "",
        "Seconds per search of 300 queries (main part, predictor fit included for hwnas "
        "strategies): " + ", ".join(f"{s} {t:.1f}" for s, t in mean_time.items()) + ".",
        "",
        "## Notes",
        "",
        "- Optuna's population: with its default of 50, NSGA-II left 0.80 % / 2.27 % of the "
        "hypervolume (pixel3 / 1080ti, 6 seeds) against the README's 0.41 % / 0.68 %; a "
        "population of 20 (0.47 % / 0.62 %) reproduces the reference and is used here, the "
        "stronger baseline. Repeated trials are answered without counting as queries.",
        "- Latency predictor (measured when `lut` still fitted the absolute error): `lut` "
        "alone predicted about 0 ms for pixel3's parameter-free "
        "cells (the column's degenerate cells measure 0.004 ms and pull its intercept down); "
        "with a perfect accuracy model, querying the first 300 architectures of the "
        "non-dominated layers in (true error, predicted latency) leaves 0.53 % regret on "
        "pixel3 with `lut` and 0.05 % with the mean of `lut` and `gbr`, which is at most "
        "0.06 % on every column; that mean is the fixed setting for all columns.",
        "- What limits pixel3: the column is irregular at its cheap end, where the front "
        "is steepest. Isomorphic cells differ by about 10 % on average, and some cells "
        "measure far below what their operations suggest: "
        "`|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_1x1~0|skip_connect~1|none~2|` "
        "is on the true front at 1.57 ms while the 341 cells computing the same function "
        "measure 1.6 to 22 ms (median 3.2 ms). A predictor fitted on 300 profiled cells "
        "cannot place such cells; given the true latency (diagnostic above), the same "
        "strategy meets the target on pixel3 too.",
        "",
        f"![curves]({name}.png)",
        "",
        f"![devices]({name}_devices.png)",
        "",
    ]
    return "\n".join(lines)


def _plot_devices(other: BenchResult, main_result: BenchResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    devices = list(main_result.devices) + list(other.devices)
    strategies = list(other.config.strategies)
    fig, axes = plt.subplots(2, 1, figsize=(14, 7), sharex=True)
    width = 0.8 / len(strategies)
    x = np.arange(len(devices))
    for k, strategy in enumerate(strategies):
        regret, recall = [], []
        for device in devices:
            result = main_result if device in main_result.devices else other
            stats = _at(result, device, strategy)
            regret.append(100 * stats["regret_mean"])
            recall.append(100 * stats["recall_mean"])
        axes[0].bar(x + k * width, regret, width, label=strategy)
        axes[1].bar(x + k * width, recall, width, label=strategy)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("hypervolume regret % (300 queries)")
    axes[1].set_ylabel("true-front recall % (300 queries)")
    axes[1].set_xticks(x + 0.4 - width / 2, devices, rotation=45, ha="right", fontsize=8)
    axes[0].legend(fontsize=8, ncol=len(strategies))
    for ax in axes:
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle(
        f"NAS-Bench-201, CIFAR-10 error vs each latency column: mean over seeds "
        f"({len(main_result.config.seeds)} for the first two, {len(other.config.seeds)} for "
        "the others)",
        fontsize=10,
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


if __name__ == "__main__":
    raise SystemExit(main())
