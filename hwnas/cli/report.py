"""``hwnas report RUN``: Pareto plot, hypervolume, exported models, per-layer latency."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hwnas.cli.common import add_json, add_run_arg, stderr_say


def add_parser(commands: Any) -> None:
    """Register ``hwnas report``."""
    p = commands.add_parser(
        "report",
        help="plots, tables and an HTML page for a run (runs/<id>/report/)",
        description="Writes runs/<id>/report/: pareto.png, hypervolume.png, per-layer "
        "latency of each exported model (onnxruntime profiling), report.json and index.html. "
        "The hand-designed networks of runs/<id>/export/baselines.json (`hwnas baselines "
        "RUN`) are placed on the same plot. Reads the run; trains nothing. A plot that "
        "fails is listed, and the rest of the report is written.",
    )
    add_run_arg(p)
    p.add_argument("--no-baselines", action="store_true", help="leave hand-designed networks out")
    p.add_argument("--layer-runs", type=int, default=50, help="profiled inferences per model")
    add_json(p)
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> None:
    from hwnas.errors import ConfigError
    from hwnas.report import report_run

    if args.layer_runs < 1:
        raise ConfigError("--layer-runs", "a positive integer", args.layer_runs)

    page = report_run(
        args.run,
        baselines=not args.no_baselines,
        layer_runs=args.layer_runs,
        say=stderr_say("report"),
    )
    data = json.loads((page.parent / "report.json").read_text())
    if args.json:
        print(json.dumps({"report": str(page), **data}, indent=2))
        return
    from hwnas.export import calibration_text, speed_text

    print(calibration_text(data.get("calibration")))
    if speed := speed_text(data.get("speed")):
        print(speed)
    if data["baselines_status"] == "not run":
        print("baselines not run (hwnas baselines RUN trains, exports and measures them)")
    for b in data["baselines"]:
        if b["dominated"] is None:
            print(f"{b['name']:12s} not measured: {b.get('error') or 'no latency'}")
            continue
        verdict = "dominated by the Pareto set" if b["dominated"] else "NOT dominated"
        if b.get("dominated_within_noise"):
            verdict += " (within noise)"
        if b.get("dominates"):
            noise = " (within noise)" if b.get("dominates_within_noise") else ""
            verdict += f"; dominates {', '.join(b['dominates'])}{noise}"
        if b.get("same_network"):
            verdict += f"; the same network as {', '.join(b['same_network'])}"
        latency = b["measured_latency_ms"]
        print(
            f"{b['name']:12s} test {b['test_accuracy']:.4f}, "
            f"{'-' if latency is None else f'{latency:.4f}'} ms: {verdict}"
        )
    for failure in data["failures"]:
        print(f"FAILED ({failure['source']}) {failure['part']}: {failure['error']}")
    print(f"wrote {page} (open it in a browser) and {page.parent / 'report.json'}")
