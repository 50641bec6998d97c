"""A measured per-block lookup table on this CPU, and what it adds to the latency predictors.

For each ``mbconv`` setting: measure every block of the space at that input shape
(``hwnas profile --lut``; resumable, into ``profiles/<device-id>/mbconv-lut.jsonl``), then on
the setting's committed profile (``benchmarks/profile_cpu.py``; the same 25 % held out)
compare, at 50/100/200/300 training architectures:

- ``table sum``: the plain sum of the table's block latencies (no fitting at all, as
  Once-for-All and FBNet use it);
- ``table, rescaled``: ``lut`` model on the table sum alone (an intercept and a factor);
- ``ops+costs``: the default predictor (``auto``);
- ``ops+costs+table``: the default predictor with the table sum as one more feature.

    OMP_NUM_THREADS=1 python benchmarks/lut_cpu.py                  # the committed results
    OMP_NUM_THREADS=1 python benchmarks/lut_cpu.py --settings mbconv:3,32,32
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from hwnas.io import atomic_write_json
from hwnas.predictors import LatencyPredictor, evaluate_predictions
from hwnas.predictors.features import FeatureContext, FeatureSpec
from hwnas.profiling import create_runtime
from hwnas.profiling.lut import lut_feature_block, measure_lut
from hwnas.profiling.store import profile_path, read_profile
from hwnas.spaces import create_space


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=["mbconv:1,8,8"])
    parser.add_argument("--sizes", default="50,100,200,300")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profiles", default="profiles")
    parser.add_argument("--out", default="benchmarks/results/lut_cpu.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runtime = create_runtime("onnxruntime-cpu", threads=1)
    results = []
    for setting in args.settings:
        name, shape_text = setting.split(":")[:2]
        shape = tuple(int(v) for v in shape_text.split(","))
        space = create_space(name)
        started = time.perf_counter()
        run = measure_lut(
            space, runtime, input_shape=shape, num_classes=10, root=args.profiles, progress=True
        )
        seconds = time.perf_counter() - started
        block = lut_feature_block(run.path)
        records = read_profile(profile_path(args.profiles, run.device_id, space.file_stem))
        order = np.random.default_rng(args.seed).permutation(len(records))
        n_test = len(records) // 4
        test = [records[i] for i in order[:n_test]]
        pool = [records[i] for i in order[n_test:]]
        y_test = np.array([r.median_ms for r in test])
        test_archs = [space.parse(r.arch) for r in test]
        context = FeatureContext(space, shape, 10)
        table_sum = FeatureSpec([block]).matrix(context, test_archs)[:, 0]
        curve = []
        for size in [s for s in sizes if s <= len(pool)]:
            train = pool[:size]
            row: dict[str, object] = {
                "n_train": size,
                "table sum": evaluate_predictions(y_test, table_sum),
            }
            variants = {
                "table, rescaled": ("lut", [block]),
                "ops+costs": ("auto", ["ops", "costs"]),
                "ops+costs+table": ("auto", ["ops", "costs", block]),
            }
            for label, (model, features) in variants.items():
                predictor = LatencyPredictor(model=model, seed=args.seed, features=features)
                predictor.fit(train, space)
                metrics = evaluate_predictions(y_test, predictor.predict(test_archs))
                row[label] = {**metrics, "model": predictor.model_name_}
            curve.append(row)
            print(
                f"{setting} n={size}: "
                + " | ".join(
                    f"{k} {v['within_10pct']:.3f}/{v['spearman']:.3f}"  # type: ignore[index]
                    for k, v in row.items()
                    if k != "n_train"
                ),
                flush=True,
            )
        results.append(
            {
                "setting": setting,
                "device_id": run.device_id,
                "lut": str(run.path),
                "blocks": run.total,
                "lut_seconds_this_call": round(seconds, 1),
                "profiled": len(records),
                "n_test": n_test,
                "curve": curve,
            }
        )
    atomic_write_json(
        args.out,
        {
            "command": "python " + " ".join(sys.argv),
            "runtime": runtime.settings(),
            "results": results,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
