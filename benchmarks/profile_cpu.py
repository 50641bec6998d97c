"""Profile this CPU (onnxruntime, batch 1), measure predictor accuracy, ship the predictors.

For each setting (space, input shape): profile ``--n`` architectures stratified over MACs
into ``profiles/`` (resumable), hold out a fixed 25 % of them, fit predictors on the first
50/100/200/300 (and more, when profiled) of the rest and report within +-5/10 %, MAPE,
Kendall's tau and Spearman's rho on the held-out ones, for the automatically chosen model
and the MAC-linear baseline; then fit the shipped predictor on at most 300 profiled
architectures and save it to ``predictors/<device-id>/<space>.json``. Also re-measures
``--repeat`` architectures in a second pass to show run-to-run stability (median ratio).

    OMP_NUM_THREADS=1 python benchmarks/profile_cpu.py            # the committed results
    python benchmarks/profile_cpu.py --settings nb201:3,32,32 --n 60 --out /tmp/p.json

A setting is ``SPACE:C,H,W`` or ``SPACE:C,H,W:N`` (N architectures instead of ``--n``),
or a config file, ``CONFIG.yaml`` or ``CONFIG.yaml:N``: its space (with its options), its
data's input shape and classes (e.g. the text job's transformer space at 128 tokens):

    OMP_NUM_THREADS=1 python benchmarks/profile_cpu.py --settings configs/text-cpu.yaml:100 \
        --sizes 25,50 --merge
Run it on an otherwise idle machine: another busy process on the other core shifts the
medians by 5-18 % on this 2-core VM.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hwnas.io import atomic_write_json
from hwnas.predictors import LatencyPredictor, evaluate_predictions
from hwnas.profiling import create_runtime, device_fingerprint
from hwnas.profiling.profiler import calibration_batch, profile_space
from hwnas.profiling.protocol import measure_model
from hwnas.profiling.store import read_profile
from hwnas.spaces import create_space

DEFAULT_SETTINGS = ["mbconv:1,8,8", "nb201:3,32,32", "mbconv:3,32,32", "mbconv:3,224,224:300"]


def stability(space, records, runtime, shape, repeat, seed):  # type: ignore[no-untyped-def]
    """Re-measure ``repeat`` profiled architectures; ratio of the two medians."""
    import torch

    from hwnas.nn import build_model, recalibrate_batchnorm

    rng = np.random.default_rng(seed)
    picks = rng.choice(len(records), size=min(repeat, len(records)), replace=False)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for i in picks:
            record = records[int(i)]
            arch = space.parse(record.arch)
            torch.manual_seed(0)
            model = build_model(space, arch, shape, record.num_classes)
            recalibrate_batchnorm(model, [calibration_batch(shape, torch.Generator())])
            again = measure_model(runtime, model, shape, 1, Path(workdir)).median_ms
            rows.append(
                {
                    "arch": record.arch,
                    "first_ms": record.median_ms,
                    "second_ms": again,
                    "ratio": again / record.median_ms,
                }
            )
    ratios = np.array([r["ratio"] for r in rows])
    deviation = np.abs(ratios - 1)
    return {
        "n": len(rows),
        "median_abs_deviation": float(np.median(deviation)),
        "max_abs_deviation": float(deviation.max()),
        "share_within_3pct": float(np.mean(deviation <= 0.03)),
        "pairs": rows,
    }


def parse_setting(setting: str, n: int):  # type: ignore[no-untyped-def]
    """``(space, input shape, classes, architectures)`` of ``SPACE:C,H,W[:N]`` (10 classes)
    or ``CONFIG.yaml[:N]``."""
    head, *rest = setting.split(":")
    if head.endswith((".yaml", ".yml")):
        from hwnas.config import load_config

        config = load_config(head)
        dataset = config.data.load()
        space = create_space(config.space.name, **config.space.options())
        count = int(rest[0]) if rest else n
        return space, tuple(dataset.input_shape), dataset.num_classes, count
    shape = tuple(int(v) for v in rest[0].split(","))
    return create_space(head), shape, 10, int(rest[1]) if len(rest) > 1 else n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--sizes", default="50,100,200,300")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profiles", default="profiles")
    parser.add_argument("--predictors", default="predictors")
    parser.add_argument("--out", default="benchmarks/results/profile_cpu.json")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace only these settings' results in --out, keep the others",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runtime = create_runtime("onnxruntime-cpu", threads=1)
    results = []
    for setting in args.settings:
        space, shape, classes, n_archs = parse_setting(setting, args.n)
        started = time.perf_counter()
        run = profile_space(
            space,
            runtime,
            n=n_archs,
            input_shape=shape,
            num_classes=classes,
            seed=args.seed,
            root=args.profiles,
            progress=True,
        )
        profile_seconds = time.perf_counter() - started
        records = read_profile(run.path)
        order = np.random.default_rng(args.seed).permutation(len(records))
        n_test = len(records) // 4
        test = [records[i] for i in order[:n_test]]
        pool = [records[i] for i in order[n_test:]]
        y_test = np.array([r.median_ms for r in test])
        curve = []
        for size in [s for s in sizes if s <= len(pool)] + (
            [len(pool)] if len(pool) > max(sizes) else []
        ):
            train = pool[:size]
            chosen = LatencyPredictor(model="auto", seed=args.seed).fit(train, space)
            baseline = LatencyPredictor(model="linear-macs", seed=args.seed).fit(train, space)
            row = {
                "n_train": size,
                "model": chosen.model_name_,
                "chosen": evaluate_predictions(y_test, chosen.predict([r.arch for r in test])),
                "linear_macs": evaluate_predictions(
                    y_test, baseline.predict([r.arch for r in test])
                ),
            }
            curve.append(row)
            print(
                f"{setting:18s} n={size:4d} {row['model']:12s} within10 "
                f"{row['chosen']['within_10pct']:.3f} spearman {row['chosen']['spearman']:.4f}"
                f" | MACs-linear within10 {row['linear_macs']['within_10pct']:.3f}",
                flush=True,
            )
        shipped = LatencyPredictor(model="auto", seed=args.seed).fit(records[:300], space)
        shipped.metrics_ = {
            "held_out": curve[-1]["chosen"],
            "n_test": n_test,
            "note": "held-out metrics of the same model kind at the largest n",
        }
        path = shipped.save(Path(args.predictors) / run.device_id / f"{space.file_stem}.json")
        results.append(
            {
                "setting": setting,
                "device_id": run.device_id,
                "profile": str(run.path),
                "profiled": len(records),
                "profile_seconds_this_call": round(profile_seconds, 1),
                "latency_ms_range": [
                    float(min(r.median_ms for r in records)),
                    float(max(r.median_ms for r in records)),
                ],
                "n_test": n_test,
                "curve": curve,
                "shipped_predictor": str(path),
                "stability": stability(space, records, runtime, shape, args.repeat, args.seed)
                if args.repeat
                else None,
            }
        )
        s = results[-1]["stability"]
        if s is None:
            continue
        print(
            f"{setting:18s} stability: {s['share_within_3pct']:.2f} of {s['n']} re-measured "
            f"within 3 %, median |dev| {s['median_abs_deviation']:.4f}, max "
            f"{s['max_abs_deviation']:.4f}",
            flush=True,
        )
    fingerprint = device_fingerprint(runtime, batch=1, input_shape=(3, 32, 32))
    command = "python " + " ".join(sys.argv)
    for result in results:
        result["command"] = command
    previous = []
    if args.merge and Path(args.out).is_file():
        # Keep the other settings' results (each records the command that made it).
        done = {r["setting"] for r in results}
        previous = [
            r for r in json.loads(Path(args.out).read_text())["results"] if r["setting"] not in done
        ]
    atomic_write_json(
        args.out,
        {
            "command": command,
            "cpu": fingerprint["cpu_model"],
            "runtime": runtime.settings(),
            "results": previous + results,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
