"""How much a machine's drift moves latency figures, with and without the anchor correction.

Measures a few ``convnet`` architectures (the digits input, 1x8x8, onnxruntime on one CPU
thread) by the profiling protocol in ``--rounds`` rounds ``--gap`` seconds apart, each
model once with the drift correction (``anchor: on``, :mod:`hwnas.profiling.drift`) and
once without (the order alternates between rounds), all in one process. For each model it
reports the range and the coefficient of variation of its medians over the rounds, both
ways, and writes ``benchmarks/results/drift.json`` and ``drift.md``. A quiet machine shows
little either way; a drifting one shows what the correction removes.

    python benchmarks/drift.py                      # the committed results
    python benchmarks/drift.py --rounds 4 --gap 1 --out /tmp/drift.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

from hwnas import __version__
from hwnas.io import atomic_write_json, atomic_write_text
from hwnas.nn import build_model
from hwnas.profiling import create_runtime
from hwnas.profiling.fingerprint import device_fingerprint
from hwnas.profiling.protocol import measure_model
from hwnas.spaces import create_space

SHAPE = (1, 8, 8)
ARCHS = [
    "s8k3|mbconv-c8-k3-e1-d1-s2|-|-|-|h0-f0",
    "s8k3|mbconv-c16-k5-e1-d1-s2|plain-c16-k3-d1-s2|-|-|h0-f64",
    "s24k3|mbconv-c8-k5-e3-d2-s1|-|-|-|h0-f64",
    "s16k3|basic-c16-k3-d1-s1|basic-c32-k3-d1-s2|basic-c64-k3-d1-s2|-|h0-f0",
]


def spread(values: list[float]) -> dict[str, float]:
    """Range and coefficient of variation of ``values``."""
    array = np.asarray(values)
    return {
        "min_ms": float(array.min()),
        "max_ms": float(array.max()),
        "max_over_min": float(array.max() / array.min()),
        "cv": float(array.std() / array.mean()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--gap", type=float, default=5.0, help="seconds between rounds")
    parser.add_argument("--out", default="benchmarks/results/drift.json")
    args = parser.parse_args()

    runtime = create_runtime("onnxruntime-cpu", threads=1)
    space = create_space("convnet")
    models = [build_model(space, space.parse(a), SHAPE, 10).eval() for a in ARCHS]
    medians: dict[str, list[list[float]]] = {"on": [[] for _ in ARCHS], "off": [[] for _ in ARCHS]}
    seconds = {"on": 0.0, "off": 0.0}  # wall time spent measuring, each way
    started = time.perf_counter()
    for round_ in range(args.rounds):
        order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
        for i, model in enumerate(models):
            for setting in order:
                began = time.perf_counter()
                stats = measure_model(runtime, model, SHAPE, 1, anchor=setting)
                seconds[setting] += time.perf_counter() - began
                medians[setting][i].append(stats.median_ms)
        line = "  ".join(
            f"{medians['on'][i][-1]:.4f}/{medians['off'][i][-1]:.4f}" for i in range(len(ARCHS))
        )
        print(f"round {round_ + 1}: on/off ms {line}", flush=True)
        if round_ + 1 < args.rounds:
            time.sleep(args.gap)
    rows = [
        {
            "arch": arch,
            "corrected": spread(medians["on"][i]),
            "uncorrected": spread(medians["off"][i]),
            "corrected_ms": medians["on"][i],
            "uncorrected_ms": medians["off"][i],
        }
        for i, arch in enumerate(ARCHS)
    ]
    fingerprint = device_fingerprint(runtime, batch=1, input_shape=SHAPE)
    result = {
        "command": "python " + " ".join(sys.argv),
        "hwnas": __version__,
        "machine": platform.platform(),
        "device_id": fingerprint["device_id"],
        "rounds": args.rounds,
        "gap_seconds": args.gap,
        "seconds": time.perf_counter() - started,
        "measuring_seconds": seconds,
        "models": rows,
    }
    out = Path(args.out)
    atomic_write_json(out, result)
    lines = [
        f"# Drift with and without the anchor correction ({fingerprint['device_id']})",
        "",
        f"`{result['command']}`: {args.rounds} rounds {args.gap:g} s apart, one process, "
        f"{result['seconds']:.0f} s. Time spent measuring: {seconds['on']:.1f} s corrected, "
        f"{seconds['off']:.1f} s uncorrected (the anchor's calls and, once per process, its "
        "preparation and seeding).",
        "",
        "| architecture | corrected ms (min-max) | CV | uncorrected ms (min-max) | CV |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        on, off = row["corrected"], row["uncorrected"]
        arch = str(row["arch"]).replace("|", "\\|")  # a table cell
        lines.append(
            f"| `{arch}` | {on['min_ms']:.4f}-{on['max_ms']:.4f} | {on['cv']:.1%} | "
            f"{off['min_ms']:.4f}-{off['max_ms']:.4f} | {off['cv']:.1%} |"
        )
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
