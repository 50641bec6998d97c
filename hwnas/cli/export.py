"""``hwnas export RUN``: the Pareto set as trained, verified, re-measured ONNX files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hwnas.cli.common import add_json, add_run_arg, seed_arg


def add_parser(commands: Any) -> None:
    """Register ``hwnas export``."""
    p = commands.add_parser(
        "export",
        help="train, export, verify and re-measure the Pareto set of a run",
        description="For each Pareto-optimal architecture of runs/<id>: final training, "
        "ONNX export with metadata, onnx.checker, onnxruntime-vs-PyTorch parity, latency "
        "re-measured on the run's runtime, budgets checked. Writes runs/<id>/export/ "
        "anew: an earlier export's baselines (hwnas baselines) go with it; run hwnas "
        "baselines again for the new models.",
    )
    add_run_arg(p)
    p.add_argument(
        "--top-k", type=int, default=None, help="export at most K models (default: the run's)"
    )
    p.add_argument(
        "--spare",
        type=int,
        default=None,
        help="train S more candidates and keep the K best once trained (with --top-k); "
        "fewer than K meeting the budgets once trained: more of the measured pool are trained "
        "(default: the run's)",
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="final training epochs (default: the run's)"
    )
    p.add_argument("--seed", type=seed_arg, default=None, help="training seed (default: the run's)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--variants",
        default=None,
        help="comma-separated: fp32 (always), fp16, int8 (default: the run's)",
    )
    p.add_argument(
        "--hand-designed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let the space's hand-designed networks compete (with --top-k; default: the run's)",
    )
    p.add_argument("--no-measure", action="store_true", help="do not re-measure latency")
    add_json(p)
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> None:
    from hwnas.export import export_run

    # What a flag leaves unsaid is the run's own export section (configs/*.yaml, export:),
    # as `hwnas run` exports it.
    section = _run_export_section(args.run)
    top_k = section.top_k if args.top_k is None else args.top_k
    spare = (section.spare if top_k is not None else 0) if args.spare is None else args.spare
    if args.variants is None:
        variants: tuple[str, ...] = tuple(section.variants)
    else:
        variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    hand_designed = section.hand_designed if args.hand_designed is None else args.hand_designed
    from hwnas.baselines import BASELINES_FILE

    baselines_file = Path(args.run) / "export" / BASELINES_FILE
    had_baselines = baselines_file.is_file()
    try:
        manifest = export_run(
            args.run,
            top_k=top_k,
            spare=spare,
            epochs=section.epochs if args.epochs is None else args.epochs,  # export_run checks
            seed=args.seed,
            opset=args.opset,
            variants=("fp32", *[v for v in variants if v != "fp32"]),
            measure=not args.no_measure,
            progress=not args.json,
            baselines=hand_designed,
        )
    finally:
        # Also when the new export ends unmet (written, then the error): it replaced the
        # folder, and the earlier baselines with it.
        if had_baselines and not baselines_file.is_file() and not args.json:
            print(
                "the earlier export's baselines went with it (they were of its models): "
                f"hwnas baselines {args.run} compares the new models with the hand-designed "
                "networks",
                file=sys.stderr,
            )
    if args.json:
        print(json.dumps(manifest, indent=2))
        return
    print_summary(manifest, args.run)


def _run_export_section(run: str) -> Any:
    """The run's ``export`` section (defaults when its config cannot be read: export_run
    then says what is wrong with the folder)."""
    from pathlib import Path

    from hwnas.config import ExportSection, load_config
    from hwnas.errors import HwnasError

    try:
        return load_config(Path(run) / "config.yaml").export
    except HwnasError:
        return ExportSection()


def print_summary(manifest: dict[str, Any], run: str) -> None:
    """The manifest for people: selection, calibration, one line per model, failures."""
    from hwnas.export import calibration_text, speed_text

    n = len(manifest["models"])
    print(f"exported {n} model{'' if n == 1 else 's'} to {run}/export/")
    if manifest.get("refilled"):
        print(
            f"trained {manifest['trained']}: {manifest['refilled']} more of the measured pool "
            "because too few of the first ones met the budgets once trained"
        )
    print(calibration_text(manifest.get("calibration")))
    if manifest["selection"] == "measured":
        print(
            f"chosen on measured latency: {manifest['candidates_measured']} candidates "
            f"measured, {manifest['candidates_rejected']} over a latency ceiling"
            + (f" ({manifest['selection_reason']})" if manifest["selection_reason"] else "")
        )
    else:
        print(f"chosen on {manifest['selection']} figures: {manifest['selection_reason']}")
    if speed := speed_text(manifest.get("speed")):
        print(speed)
    print(
        f"{'val':>7s} {'test':>7s} {'pred ms':>9s} {'sel ms':>9s} {'meas ms':>9s} "
        f"{'MMACs':>8s} feasible deploy  file"
    )
    for m in manifest["models"]:
        print(
            f"{m['val_accuracy']:7.4f} {m['test_accuracy']:7.4f} "
            f"{_ms(m['predicted_latency_ms'])} {_ms(m['selection_latency_ms'])} "
            f"{_ms(m['measured_latency_ms'])} {m['macs'] / 1e6:8.3f} "
            f"{'yes' if m['feasible'] else 'NO ':8s} {m['deploy']:6s}  {m['deploy_file']}"
        )
    for failure in manifest["failures"]:
        print(f"FAILED {failure['part']}: {failure['error']}")
    print(f"wrote {run}/export/manifest.json")


def _ms(value: float | None) -> str:
    return f"{'-' if value is None else f'{value:.4f}':>9s}"
