"""How many re-profiled architectures does a refit need to beat the rescaled shipped predictor?

When the shipped predictor is off on this machine and rescaling it does not fix it,
calibration re-profiles (``device.profile_archs``, 150) and refits; after a failed rescale
it first measures every third architecture of that sample and stops there unless the
predictor fitted so far is clearly better than the rescaled one
(``hwnas/profiling/corrections.py``). This benchmark measures what that rule trades:
architectures spread over the space (``stratified_sample``) are measured on this machine
with the profiling protocol (or read from ``--profile``, a profile measured here), a random
``--test`` of them is held out, and for each training size (``--sizes``) and seed the
rescaled shipped predictor (calibration's ``fit_correction``, scale or log-linear) and a
fresh predictor (``model: auto``, as the re-profile fits it) are fitted on a random subset
of the rest and scored on the held-out architectures: share within ±10 % and median
absolute relative error.

    python benchmarks/reprofile_sizes.py                      # measures 200 architectures
    python benchmarks/reprofile_sizes.py --profile /tmp/p/convnet.jsonl

Writes ``benchmarks/results/reprofile_sizes.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hwnas import __version__
from hwnas.io import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="convnet")
    parser.add_argument("--input-shape", default="1,8,8")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--measure", type=int, default=200, help="architectures measured")
    parser.add_argument("--profile", default=None, help="a profile measured here instead")
    parser.add_argument("--test", type=int, default=50, help="architectures held out")
    parser.add_argument("--sizes", default="12,24,50,100,150", help="comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/reprofile_sizes.json"))
    args = parser.parse_args(argv)

    from hwnas.predictors import default_predictor_path, load_predictor
    from hwnas.predictors.calibration import fit_correction
    from hwnas.predictors.latency import LatencyPredictor
    from hwnas.profiling import device_fingerprint
    from hwnas.profiling.profiler import profile_space, stratified_sample
    from hwnas.profiling.runtimes import runtime_with_threads
    from hwnas.profiling.store import read_profile
    from hwnas.spaces import create_space

    shape = tuple(int(v) for v in args.input_shape.split(","))
    space = create_space(args.space)
    runtime = runtime_with_threads("onnxruntime-cpu", 1)
    fingerprint = device_fingerprint(runtime, batch=1, input_shape=shape)
    shipped_path = default_predictor_path(
        fingerprint["device_id"], space.file_stem, ROOT / "predictors"
    )
    if not shipped_path.is_file():
        raise SystemExit(f"no shipped predictor for this machine at {shipped_path}")
    shipped = load_predictor(shipped_path)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.profile) if args.profile else None
        if path is None:
            archs = stratified_sample(
                space, args.measure, np.random.default_rng(123), shape, args.num_classes
            )
            path = profile_space(
                space,
                runtime,
                archs=archs,
                input_shape=shape,
                num_classes=args.num_classes,
                batch=1,
                root=Path(tmp),
                progress=True,
            ).path
        records = read_profile(path)
    by_arch = {r.arch: r for r in records}
    names = sorted(by_arch)
    if len(names) < args.test + 12:
        raise SystemExit(f"{path}: {len(names)} architectures, need --test + 12 at least")
    sizes = [int(s) for s in args.sizes.split(",") if int(s) <= len(names) - args.test]

    def score(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
        error = np.abs(predicted / measured - 1)
        return {
            "within_10pct": float(np.mean(error <= 0.1)),
            "median_error": float(np.median(error)),
        }

    rows: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        order = np.random.default_rng(seed).permutation(len(names))
        test = [names[i] for i in order[: args.test]]
        pool = [names[i] for i in order[args.test :]]
        measured = np.array([by_arch[a].median_ms for a in test])
        shipped_test = shipped.predict(test)
        rows.append({"seed": seed, "n": 0, "method": "shipped", **score(shipped_test, measured)})
        for n in sizes:
            train = pool[:n]
            y = np.array([by_arch[a].median_ms for a in train])
            correction = fit_correction(shipped.predict(train), y)
            rows.append(
                {
                    "seed": seed,
                    "n": n,
                    "method": f"rescaled ({correction.form})",
                    **score(correction.apply(shipped_test), measured),
                }
            )
            refit = LatencyPredictor(model="auto", seed=seed).fit(
                [by_arch[a] for a in train], space
            )
            rows.append(
                {
                    "seed": seed,
                    "n": n,
                    "method": f"refitted ({refit.model_name_})",
                    **score(refit.predict(test), measured),
                }
            )
            print(rows[-2], rows[-1], file=sys.stderr)
    out = {
        "command": "python benchmarks/reprofile_sizes.py " + " ".join(argv or sys.argv[1:]),
        "hwnas": __version__,
        "machine": {
            "node": platform.node(),
            "cpu": fingerprint.get("cpu_model"),
            "device_id": fingerprint["device_id"],
        },
        "loadavg_after": list(os.getloadavg()),
        "shipped": str(shipped_path.relative_to(ROOT)),
        "architectures": len(names),
        "test": args.test,
        "rows": rows,
        "summary": summary(rows),
    }
    atomic_write_json(Path(args.out), out)
    atomic_write_text(Path(args.out).with_suffix(".md"), markdown(out))
    print(markdown(out))
    return 0


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over seeds per training size and method (``rescaled`` and ``refitted``, any form)."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["n"], row["method"].split(" ")[0]), []).append(row)
    return [
        {
            "n": n,
            "method": method,
            "within_10pct": statistics.mean(r["within_10pct"] for r in group),
            "median_error": statistics.mean(r["median_error"] for r in group),
            "seeds": len(group),
        }
        for (n, method), group in sorted(groups.items())
    ]


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Re-profile size: refitted against rescaled shipped predictor",
        "",
        f"`{out['command'].strip()}` on {out['machine']['cpu']} (device id "
        f"`{out['machine']['device_id']}`), hwnas {out['hwnas']}: {out['architectures']} "
        f"architectures measured here, {out['test']} held out per seed; shipped predictor "
        f"`{out['shipped']}`. Means over seeds.",
        "",
        "| fitted on | predictor | within ±10 % | median error |",
        "|---|---|---|---|",
    ]
    for row in out["summary"]:
        lines.append(
            f"| {row['n']} | {row['method']} | {row['within_10pct']:.0%} | "
            f"{row['median_error']:.1%} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
