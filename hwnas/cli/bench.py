"""``hwnas bench [CONFIG]``: search strategies compared on a tabular benchmark (NB201)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hwnas.cli.common import add_json

#: The config fields that command-line options override (``--accuracy-column`` sets
#: ``accuracy_column``), each with the option's metavar and help; ``--device-column``,
#: which may be repeated, is added apart.
_OPTIONS: dict[str, tuple[str, str]] = {
    "strategies": ("NAMES", "comma-separated strategies and baselines"),
    "accuracy_column": ("COLUMN", "accuracy column (acc_cifar10_test)"),
    "queries": ("N,N,...", "accuracy queries at which to score (50,100,200,300)"),
    "seeds": ("N|S,S,...", "a number of seeds (0..N-1) or a list of seeds"),
    "profile_archs": ("N", "architectures profiled for the latency predictor (<= 300)"),
    "table": ("CSV", "a table of the same form instead of the shipped NB201 one"),
    "arch_column": ("COLUMN", "architecture column of --table (arch_str)"),
    "space": ("NAME", "search space of the architecture strings (nb201)"),
    "batch_size": ("N", "architectures asked per step of the search loop"),
    "predictor": ("MODEL", "latency predictor model(s), e.g. lut+gbr"),
    "predictor_features": (
        "BLOCKS",
        "the predictor's feature blocks, e.g. onehot,costs (the default) or ops,costs",
    ),
}


def add_parser(commands: Any) -> None:
    """Register ``hwnas bench``."""
    p = commands.add_parser(
        "bench",
        help="compare search strategies on a benchmark table (hypervolume regret, recall)",
        description="Runs each strategy with each seed on each latency column of a benchmark "
        "table (the shipped NAS-Bench-201 one by default) and scores the architectures it "
        "queried on their true table values: hypervolume regret (normalised error and "
        "latency, reference point (1, 1)) and recall of the true Pareto front, after each "
        "number of --queries. hwnas strategies see latency only through a predictor fitted "
        "on --profile-archs architectures of the column. Options override the CONFIG file "
        "(see configs/nb201-bench.yaml).",
    )
    p.add_argument("config", nargs="?", metavar="CONFIG", help="YAML bench config (optional)")
    p.add_argument(
        "--device-column",
        dest="device_columns",
        action="append",
        default=None,
        metavar="COLUMN",
        help="latency column(s) of the table, comma-separated or repeated (default pixel3_ms, "
        "1080ti_1_ms)",
    )
    for field, (metavar, text) in _OPTIONS.items():
        p.add_argument("--" + field.replace("_", "-"), default=None, metavar=metavar, help=text)
    p.add_argument("--out", default=None, metavar="FILE", help="also write the JSON to FILE")
    p.add_argument("--plot", default=None, metavar="PNG", help="write the curves to PNG")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_json(p)
    p.set_defaults(handler=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> None:
    from hwnas.bench import format_report, plot_bench, run_bench
    from hwnas.io import atomic_write_json

    overrides: dict[str, Any] = {
        field: getattr(args, field) for field in _OPTIONS if getattr(args, field) is not None
    }
    if args.device_columns is not None:
        columns = (c.strip() for item in args.device_columns for c in item.split(","))
        overrides["device_columns"] = [c for c in columns if c]
    quiet = args.quiet or args.json

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = run_bench(args.config, progress=None if quiet else progress, **overrides)
    payload = result.to_dict()
    if args.out:
        atomic_write_json(args.out, payload)
    if args.plot:
        plot_bench(result, args.plot)
    if args.json:
        print(json.dumps(payload, indent=2))
        return
    print(format_report(result))
    for flag, path in (("--out", args.out), ("--plot", args.plot)):
        if path:
            print(f"wrote {path} ({flag})")
