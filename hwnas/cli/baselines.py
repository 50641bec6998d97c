"""``hwnas baselines RUN``: hand-designed networks trained, exported and measured for a run."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hwnas.cli.common import add_json, add_run_arg, seed_arg, stderr_say


def add_parser(commands: Any) -> None:
    """Register ``hwnas baselines``."""
    p = commands.add_parser(
        "baselines",
        help="train, export and measure hand-designed networks beside a run's models",
        description="Trains the hand-designed networks for the run's data (images: "
        "LeNet-5-like, a small MobileNetV2 and ResNet-8; text: a 2-layer encoder and a "
        "TextCNN) with the recipe "
        "and seed of the run's export, exports each to ONNX (checked against PyTorch), "
        "measures it on the run's runtime and writes runs/<id>/export/baselines.json, which "
        "`hwnas report` shows. A network that cannot be built, trained, exported or "
        "measured is listed with its error; the others go on.",
    )
    add_run_arg(p)
    p.add_argument(
        "--only",
        default=None,
        metavar="NAMES",
        help="comma-separated networks (default: all; baselines.json then lists only these)",
    )
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: export's)")
    p.add_argument("--seed", type=seed_arg, default=None, help="training seed (default: export's)")
    p.add_argument("--no-measure", action="store_true", help="do not measure latency")
    add_json(p)
    p.set_defaults(handler=_cmd_baselines)


def _cmd_baselines(args: argparse.Namespace) -> None:
    from hwnas.baselines import run_baselines
    from hwnas.errors import ConfigError
    from hwnas.nn.handmade import HANDMADE

    names: tuple[str, ...] | None = None  # the networks for the run's kind of input
    if args.only is not None:
        names = tuple(n.strip() for n in args.only.split(",") if n.strip())
        unknown = [n for n in names if n not in HANDMADE]
        if unknown or not names:
            raise ConfigError("--only", f"names among {', '.join(sorted(HANDMADE))}", args.only)
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError("--epochs", "a positive integer", args.epochs)

    data = run_baselines(
        args.run,
        names=names,
        epochs=args.epochs,
        seed=args.seed,
        measure=not args.no_measure,
        progress=not args.json,
        say=stderr_say("baselines"),
    )
    if args.json:
        print(json.dumps(data, indent=2))
        return
    print(f"{'network':12s} {'val':>7s} {'test':>7s} {'meas ms':>9s} {'MMACs':>8s}  file")
    for b in data["baselines"]:
        print(
            f"{b['name']:12s} {_num(b['val_accuracy'])} {_num(b['test_accuracy'])} "
            f"{_num(b['measured_latency_ms'], 9)} "
            f"{_num(None if b['macs'] is None else b['macs'] / 1e6, 8, 3)}  {b['file'] or '-'}"
        )
    for failure in data["failures"]:
        print(f"FAILED {failure['part']}: {failure['error']}")
    print(f"wrote {args.run}/export/baselines.json")


def _num(value: float | None, width: int = 7, digits: int = 4) -> str:
    return f"{'-':>{width}s}" if value is None else f"{value:{width}.{digits}f}"
