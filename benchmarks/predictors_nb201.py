"""Latency predictors on NAS-Bench-201's 19 published device columns.

Writes ``benchmarks/results/predictors_nb201.json`` and ``predictors_nb201.md``:

1. Per device, a predictor fitted on 100 / 500 / 1000 architectures (``model="auto"``:
   chosen by 5-fold CV) and the MAC-only baseline (``linear-macs``), scored on a fixed
   held-out set of 2000 architectures: share within +-10 % and Spearman.
2. Few-shot transfer: for each target column, a :class:`TransferPredictor` from the
   predictors of the other columns (each fitted on 1000 architectures, as in 1.) and K =
   5 / 10 / 20 / 50 target measurements, Spearman on the same 2000 held-out architectures,
   over several seeds. Two variants: leave-one-column-out (the target column is never a
   source) and strict (no column of the same physical device, e.g. no batch size of the
   same GPU, is a source).
3. How far whole-millisecond phone latencies limit the +-10 % figure.

Every profile comes from :func:`hwnas.profiling.importer.import_latency_csv` on the table
shipped in ``hwnas/resources/nb201.csv.gz``. Run single-threaded (about 8 minutes)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/predictors_nb201.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/predictors_nb201.py --quick  # ~1 minute
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import platform
import re
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from hwnas import __version__
from hwnas.io import atomic_write_json, atomic_write_text
from hwnas.predictors import LatencyPredictor, TransferPredictor, evaluate_predictions
from hwnas.predictors.features import CostsBlock, FeatureContext
from hwnas.profiling.importer import import_latency_csv
from hwnas.profiling.store import ProfileRecord
from hwnas.spaces import create_space

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("nnls-macs", "nnls", "log-nnls", "auto")

#: Published figures to compare with (they are measured on other devices and splits).
ANCHORS: dict[str, Any] = {
    "nn_meter_within_10pct_mobile_cpu": 0.990,
    "help_mean_spearman_10_samples": 0.932,
    "help_spearman_10_samples": {
        "Titan RTX (GPU)": 0.987,
        "Xeon Gold (CPU)": 0.989,
        "Pixel 2 (phone)": 0.802,
        "Raspberry Pi 4": 0.890,
        "Eyeriss (ASIC)": 0.940,
        "FPGA": 0.985,
    },
    "mac_count_alone_spearman": 0.79,
    "sources": {
        "nn-Meter": "Zhang et al., MobiSys 2021: kernel-level predictors, 99.0 % of "
        "predictions within +-10 % on a mobile CPU (its own model set).",
        "HELP": "Lee et al., NeurIPS 2021, Table 2: NAS-Bench-201 Spearman with 10 target "
        "samples, mean 0.932 over its six unseen devices; MAC count alone about 0.79.",
    },
}


def physical_device(column: str) -> str:
    """``titanxp_32_ms`` -> ``titanxp``: the device without its batch size."""
    return re.sub(r"(_(1|32|256))?_ms$", "", column)


def batch_of(column: str) -> int:
    match = re.search(r"_(1|32|256)_ms$", column)
    return int(match.group(1)) if match else 1


def table_path() -> Path:
    return Path(str(resources.files("hwnas.resources").joinpath("nb201.csv.gz")))


def device_columns() -> list[str]:
    with gzip.open(table_path(), "rt", newline="") as handle:
        header = next(csv.reader(handle))
    return [c for c in header if c.endswith("_ms")]


def load_profiles(columns: list[str]) -> dict[str, list[ProfileRecord]]:
    space = create_space("nb201")
    profiles = {}
    for column in columns:
        profiles[column] = import_latency_csv(
            table_path(),
            space=space,
            device=column[: -len("_ms")],
            latency_column=column,
            batch=batch_of(column),
        )
    return profiles


def quantisation(y: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """How coarse a column's values are, and what whole-millisecond rounding alone costs.

    For whole-ms columns, the ceilings assume the unrounded latency lies uniformly within
    +-0.5 ms of the stored value: ``rounding_ceiling_within_10pct`` is the share of stored
    values a perfect predictor of the unrounded latency would get within +-10 %, and
    ``rounding_ceiling_spearman`` its Spearman against the stored (tied) values.
    """
    distinct = len(np.unique(y))
    whole_ms = bool(np.all(np.equal(np.mod(y, 1.0), 0.0)))
    info: dict[str, Any] = {
        "distinct_values": distinct,
        "distinct_share": distinct / len(y),
        "whole_ms": whole_ms,
        "share_le_5ms": float(np.mean(y <= 5.0)),
        "share_below_0.1ms": float(np.mean(y < 0.1)),
        "median_ms": float(np.median(y)),
    }
    if whole_ms:
        rng = np.random.default_rng(seed)
        unrounded = np.maximum(y + rng.uniform(-0.5, 0.5, size=y.shape), 1e-3)
        info["rounding_ceiling_within_10pct"] = float(np.mean(np.abs(unrounded - y) / y <= 0.1))
        info["rounding_ceiling_spearman"] = float(spearmanr(y, unrounded).statistic)
    return info


def bench_learned(
    profiles: dict[str, list[ProfileRecord]],
    test: np.ndarray,
    pool: np.ndarray,
    sizes: list[int],
    cv: int,
) -> tuple[dict[str, Any], dict[str, LatencyPredictor]]:
    """Fit auto and linear-macs predictors at each training size; score on ``test``."""
    results: dict[str, Any] = {}
    sources: dict[str, LatencyPredictor] = {}
    for column, records in profiles.items():
        y_test = np.array([records[i].median_ms for i in test])
        test_archs = [records[i].arch for i in test]
        results[column] = {}
        for n in sizes:
            train = [records[i] for i in pool[:n]]
            start = time.perf_counter()
            predictor = LatencyPredictor(model="auto", seed=0, cv=cv).fit(train)
            seconds = time.perf_counter() - start
            metrics = evaluate_predictions(y_test, predictor.predict(test_archs))
            base = LatencyPredictor(model="linear-macs").fit(train)
            baseline = evaluate_predictions(y_test, base.predict(test_archs))
            results[column][str(n)] = {
                "model": predictor.model_name_,
                "metrics": metrics,
                "baseline_linear_macs": baseline,
                "cv_scores": predictor.cv_scores_,
                "fit_seconds": seconds,
            }
            if n == max(sizes):
                sources[column] = predictor
        row = results[column][str(max(sizes))]
        print(
            f"  {column:18s} n={max(sizes)}: {row['model']:4s} within10 "
            f"{row['metrics']['within_10pct']:.3f} spearman {row['metrics']['spearman']:.3f} | "
            f"macs {row['baseline_linear_macs']['within_10pct']:.3f} "
            f"{row['baseline_linear_macs']['spearman']:.3f}",
            flush=True,
        )
    return results, sources


def bench_transfer(
    profiles: dict[str, list[ProfileRecord]],
    sources: dict[str, LatencyPredictor],
    test: np.ndarray,
    pool: np.ndarray,
    shots: list[int],
    seeds: int,
) -> dict[str, Any]:
    """Leave-one-device-out few-shot transfer, two variants, every method."""
    columns = list(profiles)
    space = create_space("nb201")
    first = profiles[columns[0]]
    test_archs = [space.parse(first[i].arch) for i in test]
    context = FeatureContext(space, (3, 32, 32), 10)
    macs_test = CostsBlock().compute(context, test_archs, np.zeros((len(test), 0)))[:, 0]
    source_test = {c: p.predict(test_archs) for c, p in sources.items()}
    out: dict[str, Any] = {"loo": {}, "strict": {}}
    column_of = {p.device_id_: c for c, p in sources.items()}
    checked = False
    for variant in ("loo", "strict"):
        for method in METHODS:
            out[variant][method] = {}
            for k in shots:
                per_device: dict[str, Any] = {}
                for t, target in enumerate(columns):
                    names = [
                        c
                        for c in columns
                        if c != target
                        and (variant == "loo" or physical_device(c) != physical_device(target))
                    ]
                    y_test = np.array([profiles[target][i].median_ms for i in test])
                    rhos, leaned = [], []
                    for seed in range(seeds):
                        rng = np.random.default_rng([seed, t, k])
                        chosen = rng.choice(pool, size=k, replace=False)
                        records = [profiles[target][i] for i in chosen]
                        predictor = TransferPredictor(method=method).fit(
                            [sources[c] for c in names], records
                        )
                        P = np.column_stack([source_test[c] for c in names])
                        pred = predictor.combine(P, macs_test)
                        if not checked:  # combine() on cached predictions == predict()
                            direct = predictor.predict(test_archs[:50])
                            np.testing.assert_allclose(direct, pred[:50], rtol=1e-9)
                            checked = True
                        rhos.append(float(spearmanr(y_test, pred).statistic))
                        top = max(predictor.shares_, key=lambda d: predictor.shares_[d])
                        leaned.append(column_of.get(top, top))
                    per_device[target] = {
                        "spearman_mean": float(np.mean(rhos)),
                        "spearman_per_seed": rhos,
                        "top_source_per_seed": leaned,
                    }
                mean = float(np.mean([v["spearman_mean"] for v in per_device.values()]))
                out[variant][method][str(k)] = {"mean_spearman": mean, "devices": per_device}
                print(f"  {variant:6s} {method:9s} K={k:2d}: mean Spearman {mean:.4f}", flush=True)
    return out


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}" if pct else f"{value:.3f}"


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    sizes = [str(n) for n in meta["sizes"]]
    shots = [str(k) for k in meta["shots"]]
    lines = [
        f"# Latency predictors on NAS-Bench-201 ({len(meta['columns'])} published device columns)",
        "",
        f"Command: `{meta['command']}` ({meta['seconds']:.0f} s, {meta['threads']} thread, "
        f"hwnas {meta['hwnas_version']}, {meta['platform']}).",
        "",
        f"Held-out set: {meta['test_size']} fixed architectures (never used for fitting); "
        "training sets drawn from the other architectures. `auto` picks a model per device "
        f"by {meta['cv']}-fold CV (mean absolute log error) among lut, gbr, rf, mlp and gp "
        "(gp up to 500 records); the baseline is latency linear in MACs (`linear-macs`).",
        "",
        "## 1. Fitted predictors: share within +-10 % / Spearman on the held-out set",
        "",
        "| device | "
        + " | ".join(f"n={n}: model, ±10 %, ρ" for n in sizes)
        + " | MACs-linear n="
        + sizes[-1]
        + ": ±10 %, ρ |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    learned = report["learned"]
    for column, rows in learned.items():
        cells = []
        for n in sizes:
            r = rows[n]
            m = r["metrics"]
            cells.append(f"{r['model']} {_fmt(m['within_10pct'], True)} % {_fmt(m['spearman'])}")
        b = rows[sizes[-1]]["baseline_linear_macs"]
        cells.append(f"{_fmt(b['within_10pct'], True)} % {_fmt(b['spearman'])}")
        lines.append(f"| {column} | " + " | ".join(cells) + " |")
    means = []
    for n in sizes:
        w = np.mean([rows[n]["metrics"]["within_10pct"] for rows in learned.values()])
        s = np.mean([rows[n]["metrics"]["spearman"] for rows in learned.values()])
        means.append(f"{100 * w:.1f} % {s:.3f}")
    bw = np.mean(
        [rows[sizes[-1]]["baseline_linear_macs"]["within_10pct"] for rows in learned.values()]
    )
    bs = np.mean([rows[sizes[-1]]["baseline_linear_macs"]["spearman"] for rows in learned.values()])
    lines.append("| **mean** | " + " | ".join(means) + f" | {100 * bw:.1f} % {bs:.3f} |")
    anchors = report["anchors"]
    lines += [
        "",
        f"Anchors: nn-Meter reports {100 * anchors['nn_meter_within_10pct_mobile_cpu']:.1f} % "
        "within +-10 % on a mobile CPU (its own kernels and models, not this table); MAC "
        f"count alone ranks NAS-Bench-201 at about {anchors['mac_count_alone_spearman']} "
        "(HELP).",
        "",
        f"## 2. Few-shot transfer: mean Spearman over the {len(meta['columns'])} target columns",
        "",
        f"Sources: the n={sizes[-1]} predictors of section 1 for every other column. "
        f"{meta['seeds']} seeds (K target architectures drawn per seed); the same K for "
        "every method. `loo`: the target column is never a source; `strict`: no column of "
        "the same physical device (e.g. no batch size of the same GPU) is a source.",
        "",
        "| variant | method | " + " | ".join(f"K={k}" for k in shots) + " |",
        "|---|---|" + "---|" * len(shots),
    ]
    transfer = report["transfer"]
    for variant in ("loo", "strict"):
        for method in METHODS:
            cells = [_fmt(transfer[variant][method][k]["mean_spearman"]) for k in shots]
            lines.append(f"| {variant} | {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Anchor: HELP {anchors['help_mean_spearman_10_samples']} mean Spearman with 10 "
        "samples (Titan RTX 0.987, Xeon Gold 0.989, Pixel 2 0.802, Raspberry Pi 4 0.890, "
        "Eyeriss 0.940, FPGA 0.985; other devices than these columns).",
        "",
        "Per target column, K=10, default method (nnls-macs); for comparison the Spearman "
        f"of the column's own predictor fitted on n={sizes[-1]} (section 1) and of the MAC "
        "count alone:",
        "",
        f"| device | loo ρ | strict ρ | own n={sizes[-1]} ρ | MACs alone ρ "
        "| most-leaned-on source (strict, seed 0) |",
        "|---|---|---|---|---|---|",
    ]
    k10 = "10" if "10" in shots else shots[0]
    for column in learned:
        loo = transfer["loo"]["nnls-macs"][k10]["devices"][column]
        strict = transfer["strict"]["nnls-macs"][k10]["devices"][column]
        macs = report["devices"][column]["macs_spearman"]
        own = learned[column][sizes[-1]]["metrics"]["spearman"]
        lines.append(
            f"| {column} | {loo['spearman_mean']:.3f} | {strict['spearman_mean']:.3f} | "
            f"{own:.3f} | {macs:.3f} | {strict['top_source_per_seed'][0]} |"
        )
    lines += [
        "",
        "## 3. What limits +-10 % on the phone and CPU columns",
        "",
        "| device | whole ms | distinct values | median ms | share <= 5 ms | rounding ceiling "
        f"±10 % / ρ | fitted n={sizes[-1]} ±10 % (n={sizes[0]}) |",
        "|---|---|---|---|---|---|---|",
    ]
    for column, info in report["devices"].items():
        fitted = learned[column][sizes[-1]]["metrics"]["within_10pct"]
        small = learned[column][sizes[0]]["metrics"]["within_10pct"]
        if fitted >= 0.9 and not info["whole_ms"]:
            continue
        ceiling = (
            f"{100 * info['rounding_ceiling_within_10pct']:.1f} % / "
            f"{info['rounding_ceiling_spearman']:.3f}"
            if info["whole_ms"]
            else "-"
        )
        lines.append(
            f"| {column} | {'yes' if info['whole_ms'] else 'no'} | {info['distinct_values']} "
            f"({100 * info['distinct_share']:.2f} %) | {info['median_ms']:.1f} | "
            f"{100 * info['share_le_5ms']:.1f} % | {ceiling} | {100 * fitted:.1f} % "
            f"({100 * small:.1f} %) |"
        )
    odd = {
        c: i["share_below_0.1ms"] for c, i in report["devices"].items() if i["share_below_0.1ms"]
    }
    lines += [
        "",
        "Rounding ceiling: what a perfect predictor of the unrounded latency would score "
        "against the stored whole-ms values, taking the unrounded value as uniform within "
        "+-0.5 ms. Rounding alone breaks +-10 % only at or below 5 ms, which is rare in these "
        "columns, so it costs little; the ties (a few dozen distinct values for 15,625 "
        "networks) cap Spearman slightly below 1. Where a column's +-10 % share barely grows "
        "from the middle to the largest training set while the GPU columns reach 97-100 % "
        "with the same models, the limit is more likely run-to-run noise in the published "
        "measurements than the model.",
    ]
    for column, share in odd.items():
        lines.append(
            f"{column}: {100 * share:.1f} % of its values are below 0.1 ms, implausible for a "
            "full network on a phone (measurement artefacts); they count as misses in +-10 %."
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1000", help="training sizes")
    parser.add_argument("--shots", default="5,10,20,50", help="K target samples")
    parser.add_argument("--seeds", type=int, default=5, help="transfer seeds (default 5)")
    parser.add_argument("--test-size", type=int, default=2000, help="held-out architectures")
    parser.add_argument("--cv", type=int, default=5, help="CV folds of auto (default 5)")
    parser.add_argument("--devices", default=None, help="comma-separated columns (default all)")
    parser.add_argument("--quick", action="store_true", help="sizes 100,300; K 10; 2 seeds")
    parser.add_argument("--out", default=str(RESULTS / "predictors_nb201.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.shots, args.seeds, args.cv = "100,300", "10", 2, 3
    sizes = sorted(int(v) for v in args.sizes.split(","))
    shots = sorted(int(v) for v in args.shots.split(","))
    columns = device_columns()
    if args.devices:
        wanted = args.devices.split(",")
        unknown = sorted(set(wanted) - set(columns))
        if unknown:
            parser.error(f"--devices: unknown columns {unknown}; known: {columns}")
        columns = [c for c in columns if c in wanted]
    start = time.perf_counter()
    print(f"importing {len(columns)} device columns ...", flush=True)
    profiles = load_profiles(columns)
    n = len(profiles[columns[0]])
    order = np.random.default_rng(12345).permutation(n)
    test, pool = order[: args.test_size], order[args.test_size :]
    macs = np.array([r.macs for r in profiles[columns[0]]], dtype=float)
    devices = {}
    for column, records in profiles.items():
        y = np.array([r.median_ms for r in records])
        devices[column] = {
            "physical_device": physical_device(column),
            "batch": batch_of(column),
            "device_id": records[0].device_id,
            "macs_spearman": float(spearmanr(y[test], macs[test]).statistic),
            **quantisation(y),
        }
    print("fitting per-device predictors ...", flush=True)
    learned, sources = bench_learned(profiles, test, pool, sizes, args.cv)
    print("few-shot transfer ...", flush=True)
    transfer = bench_transfer(profiles, sources, test, pool, shots, args.seeds)
    report = {
        "meta": {
            "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/predictors_nb201.py"
            + (" " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else ""),
            "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
            "seconds": time.perf_counter() - start,
            "hwnas_version": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "sizes": sizes,
            "shots": shots,
            "seeds": args.seeds,
            "test_size": args.test_size,
            "cv": args.cv,
            "columns": columns,
        },
        "anchors": ANCHORS,
        "devices": devices,
        "learned": learned,
        "transfer": transfer,
    }
    out = Path(args.out)
    atomic_write_json(out, report)
    atomic_write_text(out.with_suffix(".md"), markdown(report))
    print(f"wrote {out} and {out.with_suffix('.md')} in {report['meta']['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
