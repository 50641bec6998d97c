"""``hwnas report RUN``: Pareto plot, hypervolume, exported models, per-layer latency."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hwnas.cli.common import add_json


def add_parser(commands: Any) -> None:
    """Register ``hwnas report``."""
    p = commands.add_parser(
        "report",
        help="plots, tables and an HTML page for a run (runs/<id>/report/)",
        description="Writes runs/<id>/report/: pareto.png, hypervolume.png, per-layer "
        "latency of each exported model (onnxruntime profiling), report.json and index.html. "
        "With an export, classic hand-designed networks are trained with the same recipe, "
        "measured on the same runtime and placed on the same plot.",
    )
    p.add_argument("run", metavar="RUN", help="run folder (runs/<id>)")
    p.add_argument("--no-baselines", action="store_true", help="skip hand-designed networks")
    p.add_argument("--layer-runs", type=int, default=50, help="profiled inferences per model")
    add_json(p)
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> None:
    from hwnas.errors import ConfigError
    from hwnas.report import report_run

    if args.layer_runs < 1:
        raise ConfigError("--layer-runs", "a positive integer", args.layer_runs)
    page = report_run(args.run, baselines=not args.no_baselines, layer_runs=args.layer_runs)
    data = json.loads((page.parent / "report.json").read_text())
    if args.json:
        print(json.dumps({"report": str(page), **data}, indent=2))
        return
    for b in data["baselines"]:
        verdict = "dominated by the Pareto set" if b.get("dominated") else "NOT dominated"
        print(
            f"{b['name']:12s} test {b['test_accuracy']:.4f}, "
            f"{b['measured_latency_ms']:.4f} ms: {verdict}"
        )
    print(f"wrote {page} (open it in a browser) and {page.parent / 'report.json'}")
