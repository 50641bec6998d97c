"""How often a short, independent timing of one model agrees with a long one.

An independent check of the main job (``../shared/tools/check_main_job.py``) times each
exported file for about 60 ms (50 calls, then 5 windows of 200) and wants the job's figure
within 10 %. The job's figures are at its process's typical speed (drift correction,
:mod:`hwnas.profiling.drift`). This script times one ``convnet`` model (exported to ONNX,
onnxruntime on one CPU thread, as the check runs it) in windows of ``--calls`` calls, a
``--gap`` apart, for ``--seconds``, in one process, and reports:

- the windows' medians: their quantiles, and the two speed states they fall into when they
  do (two clusters of the log medians, scikit-learn's ``KMeans``), each one's share and
  median;
- the share of windows within 10 % of the median over all windows (what a figure at the
  typical speed gets from a snapshot) and within 10 % of the fast state's median.

Writes ``benchmarks/results/speed_states.json`` and ``speed_states.md``.

    python benchmarks/speed_states.py                   # the committed results
    python benchmarks/speed_states.py --seconds 20 --out /tmp/states.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hwnas import __version__
from hwnas.io import atomic_write_json, atomic_write_text
from hwnas.nn import build_model
from hwnas.onnx_export import export_onnx
from hwnas.profiling import create_runtime
from hwnas.profiling.fingerprint import device_fingerprint
from hwnas.spaces import create_space

SHAPE = (1, 8, 8)
#: A small model of the main job's front (a 0.01 ms model on this project's VM).
ARCH = "s16k5|mbconv-c32-k5-e1-d2-s1|-|-|-|h0-f0"
TOLERANCE = 0.10


def session(path: Path):  # type: ignore[no-untyped-def]
    """An onnxruntime session set up as the check sets its own: one thread, sequential."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def window_medians(path: Path, seconds: float, calls: int, gap: float) -> list[float]:
    """Median latency (ms) of each window of ``calls`` calls, for ``seconds``."""
    runner = session(path)
    feed = {"input": np.random.default_rng(0).standard_normal((1, *SHAPE)).astype(np.float32)}
    for _ in range(200):
        runner.run(None, feed)
    medians = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            runner.run(None, feed)
            times.append(time.perf_counter() - start)
        medians.append(float(np.median(times)) * 1e3)
        time.sleep(gap)
    return medians


def states(medians: list[float]) -> list[dict[str, float]]:
    """The two speed states (fast first): share of windows and median of each."""
    from sklearn.cluster import KMeans

    logs = np.log(np.asarray(medians)).reshape(-1, 1)
    labels = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(logs)
    out = []
    for label in (0, 1):
        values = np.asarray(medians)[labels == label]
        if len(values):
            out.append({"share": len(values) / len(medians), "median_ms": float(np.median(values))})
    return sorted(out, key=lambda s: s["median_ms"])


def within(medians: list[float], figure: float) -> float:
    """Share of windows whose median is within :data:`TOLERANCE` of ``figure``."""
    array = np.asarray(medians)
    return float(np.mean(np.abs(array - figure) / array <= TOLERANCE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--calls", type=int, default=300, help="calls per window")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between windows")
    parser.add_argument("--out", default="benchmarks/results/speed_states.json")
    args = parser.parse_args(argv)

    import torch

    torch.manual_seed(0)
    space = create_space("convnet")
    model = build_model(space, space.parse(ARCH), SHAPE, 10).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx", SHAPE)
        medians = window_medians(path, args.seconds, args.calls, args.gap)
    overall = float(np.median(medians))
    found = states(medians)
    result = {
        "command": "python benchmarks/speed_states.py " + " ".join(argv or sys.argv[1:]),
        "hwnas": __version__,
        "machine": platform.node(),
        "device_id": device_fingerprint(
            create_runtime("onnxruntime-cpu", threads=1), batch=1, input_shape=SHAPE
        )["device_id"],
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "arch": ARCH,
        "windows": len(medians),
        "calls_per_window": args.calls,
        "quantiles_ms": {str(q): float(np.percentile(medians, q)) for q in (5, 25, 50, 75, 95)},
        "states": found,
        "within_10pct_of_overall_median": within(medians, overall),
        "within_10pct_of_fast_state": within(medians, found[0]["median_ms"]),
        "medians_ms": medians,
    }
    out = Path(args.out)
    atomic_write_json(out, result)
    lines = [
        "# Speed states: short timings of one model against its typical figure",
        "",
        f"`{result['command'].strip()}` ({result['date']} UTC, device id "
        f"`{result['device_id']}`): `{ARCH}` on onnxruntime, one thread, "
        f"{len(medians)} windows of {args.calls} calls over {args.seconds:.0f} s.",
        "",
        "| state | share of windows | median ms |",
        "|---|---:|---:|",
        *(
            f"| {name} | {s['share']:.0%} | {s['median_ms']:.4f} |"
            for name, s in zip(("fast", "slow"), found, strict=False)
        ),
        "",
        f"Windows within ±10 % of the median over all windows ({overall:.4f} ms): "
        f"{result['within_10pct_of_overall_median']:.0%}; of the fast state's median: "
        f"{result['within_10pct_of_fast_state']:.0%}.",
        "",
    ]
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
