"""The main job with a predictor from a machine of another speed: is it caught and corrected?

Issue 11: a predictor shipped for this device id was 2.6-2.9x off on a fresh machine of
the same id, and nothing noticed. This benchmark stands in for that machine: it takes the
shipped predictor for this machine (``predictors/<device-id>/<space>.json``), multiplies
every prediction by ``--factor`` (a predictor fitted on a machine ``1/factor`` times as
fast as this one), and runs the main job (``configs/digits-cpu.yaml``) with it as
``device.predictor``. Recorded: the calibration the run did (ratio, Spearman, share within
±10 % before and after), and, for each exported model, the corrected prediction against
the export's measurement and against an independent timing here (plain onnxruntime, one
thread, ``--repeats`` runs after a warm-up, median), and the wall time.

    python benchmarks/calibration_main_job.py                 # factors 0.37 and 2.7
    python benchmarks/calibration_main_job.py --factors 0.37 --out /tmp/cal.json

Writes ``benchmarks/results/calibration_main_job.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwnas import __version__
from hwnas.io import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs/digits-cpu.yaml"))
    parser.add_argument("--factors", default="0.37,2.7", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=2000, help="independent timing runs")
    parser.add_argument("--runs-dir", default=None, help="default: a temporary folder")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/calibration_main_job.json"))
    args = parser.parse_args(argv)

    import yaml

    from hwnas.data import load_dataset
    from hwnas.pipeline import run_pipeline
    from hwnas.predictors import default_predictor_path, load_predictor
    from hwnas.predictors.calibration import CalibratedPredictor, Correction
    from hwnas.profiling import device_fingerprint
    from hwnas.profiling.runtimes import runtime_with_threads
    from hwnas.spaces import create_space

    config = yaml.safe_load(Path(args.config).read_text())
    device = config.get("device", {})
    dataset = load_dataset(config["data"]["name"], seed=config["data"].get("seed", 0))
    runtime = runtime_with_threads(device.get("runtime", "onnxruntime-cpu"), device["threads"])
    fingerprint = device_fingerprint(
        runtime, batch=device["batch"], input_shape=dataset.input_shape
    )
    space = create_space(config["space"]["name"])
    shipped = default_predictor_path(fingerprint["device_id"], space.file_stem, ROOT / "predictors")
    if not shipped.is_file():
        raise SystemExit(f"no shipped predictor for this machine at {shipped}")
    base = load_predictor(shipped)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(args.runs_dir or Path(tmp) / "runs")
        for factor in (float(f) for f in args.factors.split(",")):
            path = Path(tmp) / f"shipped-x{factor}.json"
            CalibratedPredictor.wrap(base, Correction("scale", math.log(factor), 1.0, {})).save(
                path
            )
            run_config = {**config, "device": {**device, "predictor": str(path)}}
            started = time.perf_counter()
            result = run_pipeline(
                run_config,
                runs_dir=runs_dir,
                profiles_dir=Path(tmp) / "profiles",
                predictors_dir=Path(tmp) / "predictors",
                log=lambda line: print(line, file=sys.stderr),
            )
            seconds = time.perf_counter() - started
            rows.append(summarise(factor, result, seconds, Path(result.run), dataset, args.repeats))
    out = {
        "command": "python benchmarks/calibration_main_job.py " + " ".join(argv or sys.argv[1:]),
        "hwnas": __version__,
        "machine": {
            "node": platform.node(),
            "cpu": fingerprint.get("cpu_model"),
            "device_id": fingerprint["device_id"],
        },
        "loadavg_after": list(os.getloadavg()),
        "config": args.config,
        "shipped_predictor": str(shipped.relative_to(ROOT)),
        "runs": rows,
    }
    atomic_write_json(Path(args.out), out)
    atomic_write_text(Path(args.out).with_suffix(".md"), markdown(out))
    print(markdown(out))
    return 0


def independent_ms(onnx_file: Path, input_shape: list[int], repeats: int) -> float:
    """Median latency (ms) of one inference, plain onnxruntime on one thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((1, *input_shape)).astype(np.float32)
    for _ in range(max(50, repeats // 10)):
        session.run(None, {name: x})
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def summarise(
    factor: float, result: Any, seconds: float, run_dir: Path, dataset: Any, repeats: int
) -> dict[str, Any]:
    manifest = json.loads((run_dir / "export" / "manifest.json").read_text())
    calibration = result.calibration or {}
    budget = manifest.get("latency_ms_max")
    models = []
    for m in manifest["models"]:
        independent = independent_ms(
            run_dir / "export" / m["file"], list(dataset.input_shape), repeats
        )
        predicted = m["predicted_latency_ms"]
        models.append(
            {
                "name": m["name"],
                "predicted_ms": predicted,
                "measured_ms": m["measured_latency_ms"],
                "independent_ms": independent,
                "error_vs_measured": predicted / m["measured_latency_ms"] - 1,
                "error_vs_independent": predicted / independent - 1,
                "within_budget_independent": budget is None or independent <= budget,
                "test_accuracy": m["test_accuracy"],
            }
        )
    return {
        "factor": factor,
        "seconds": round(seconds, 1),
        **dominance(run_dir),
        "calibration": {
            k: calibration.get(k)
            for k in ("checked", "action", "reason", "points", "before", "after", "correction")
        },
        "exported": len(models),
        "within_10pct_of_independent": sum(abs(m["error_vs_independent"]) <= 0.1 for m in models),
        "within_budget_independent": sum(m["within_budget_independent"] for m in models),
        "budget_ms": budget,
        "models": models,
        "failures": result.failures,
    }


def dominance(run_dir: Path) -> dict[str, Any]:
    """From the run's report (test accuracy, measured latency, same run): the hand-designed
    baselines the exported set dominates, and those that dominate an exported model."""
    path = run_dir / "report" / "report.json"
    if not path.is_file():
        return {"baselines_dominated": None, "baselines_dominating": None}
    report = json.loads(path.read_text())
    exported = [
        (e["test_accuracy"], e["measured_latency_ms"])
        for e in report.get("exported", [])
        if e.get("feasible")
    ]

    def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] >= b[0] and a[1] <= b[1] and a != b

    dominated, dominating = [], []
    for b in report.get("baselines", []):
        if b.get("test_accuracy") is None or b.get("measured_latency_ms") is None:
            continue
        point = (b["test_accuracy"], b["measured_latency_ms"])
        if any(dominates(e, point) for e in exported):
            dominated.append(b["name"])
        if any(dominates(point, e) for e in exported):
            dominating.append(b["name"])
    return {"baselines_dominated": dominated, "baselines_dominating": dominating}


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# The main job with a predictor from a machine of another speed",
        "",
        f"`{out['command'].strip()}` on {out['machine']['cpu']} (device id "
        f"`{out['machine']['device_id']}`), hwnas {out['hwnas']}. The shipped predictor "
        f"`{out['shipped_predictor']}` with every prediction multiplied by the factor.",
        "",
        "| factor | calibration | ratio before | within ±10 % before / after | exported | "
        "prediction within 10 % of independent timing | within budget (independent) | "
        "baselines dominated / dominating an export | wall s |",
        "|---:|---|---:|---|---:|---:|---:|---|---:|",
    ]
    for r in out["runs"]:
        c = r["calibration"]
        before, after = c.get("before") or {}, c.get("after") or {}

        def share(figures: dict[str, Any]) -> str:
            value = figures.get("within_10pct")
            return "-" if value is None else f"{value:.0%}"

        ratio = before.get("ratio")
        lines.append(
            f"| {r['factor']} | {c.get('action')} | "
            f"{'-' if ratio is None else f'{ratio:.2f}'} | {share(before)} / {share(after)} | "
            f"{r['exported']} | {r['within_10pct_of_independent']} | "
            f"{r['within_budget_independent']} | {_names(r.get('baselines_dominated'))} / "
            f"{_names(r.get('baselines_dominating'))} | {r['seconds']:.0f} |"
        )
    lines += ["", "Per model (predicted after calibration; measured by the export; independent):"]
    for r in out["runs"]:
        for m in r["models"]:
            lines.append(
                f"- x{r['factor']} {m['name']}: {m['predicted_ms']:.4f} / {m['measured_ms']:.4f} "
                f"/ {m['independent_ms']:.4f} ms ({m['error_vs_independent']:+.1%}), "
                f"test {m['test_accuracy']:.4f}"
            )
    return "\n".join(lines) + "\n"


def _names(names: list[str] | None) -> str:
    if names is None:
        return "n/a"
    return ", ".join(names) if names else "none"


if __name__ == "__main__":
    sys.exit(main())
