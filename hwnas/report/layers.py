"""Per-node latency of an exported ONNX model, from onnxruntime's profiler."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def layer_profile(
    path: str | Path, input_shape: tuple[int, ...], runs: int = 50, threads: int = 1
) -> list[dict[str, Any]]:
    """Per-node latency of an ONNX model from onnxruntime's profiler.

    Args:
        path: The ``.onnx`` file (input ``input``).
        input_shape: ``(C, H, W)`` of one image, or ``(L,)`` of one sequence of token ids.
        runs: Profiled inferences (one more is run and left out: it includes set-up).
        threads: onnxruntime's intra-op threads.

    Returns:
        One row per node, slowest first: ``node`` (name), ``op`` (type), ``median_us`` (median
        microseconds per inference: one stall of a shared core in 50 runs had made a 16 us
        model's Conv 247 us on average) and ``share`` (of the sum over nodes).
    """
    import onnxruntime as ort

    from hwnas.data.inputs import random_input

    with tempfile.TemporaryDirectory() as workdir:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(workdir) / "profile")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        x = random_input(input_shape, 1, np.random.default_rng(0))
        for _ in range(runs + 1):
            session.run(None, {"input": x})
        trace = json.loads(Path(session.end_profiling()).read_text())
    return node_rows(trace)


def node_rows(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of :func:`layer_profile` from onnxruntime's profile trace (its events)."""
    totals: dict[str, dict[str, Any]] = {}
    for event in trace:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        name = event["name"].removesuffix("_kernel_time")
        row = totals.setdefault(
            name, {"node": name, "op": event.get("args", {}).get("op_name", "?"), "us": []}
        )
        row["us"].append(float(event["dur"]))
    rows = []
    for row in totals.values():
        samples = row.pop("us")[1:] or [0.0]  # the first call includes initialisation
        row["median_us"] = float(np.median(samples))
        rows.append(row)
    total = sum(r["median_us"] for r in rows) or 1.0
    for row in rows:
        row["share"] = row["median_us"] / total
    return sorted(rows, key=lambda r: -r["median_us"])


def layers_csv(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`layer_profile` as CSV text (``node,op,median_us,share``)."""
    lines = ["node,op,median_us,share"] + [
        f"{r['node']},{r['op']},{r['median_us']:.3f},{r['share']:.4f}" for r in rows
    ]
    return "\n".join(lines) + "\n"


def short_node(name: str) -> str:
    """``/cells/cells.3/edges.5/edges.5.1/Conv_output_0_nchwc`` -> ``cells.3/edges.5.1/Conv``."""
    name = name.split("_output_")[0].strip("/")
    parts = name.split("/")
    kept = [
        p
        for i, p in enumerate(parts)
        if not (i + 1 < len(parts) and parts[i + 1].startswith(p + "."))
    ]
    return "/".join(kept)[-40:]
