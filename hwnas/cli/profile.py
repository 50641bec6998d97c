"""``hwnas profile``, ``hwnas profile import`` and ``hwnas devices``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hwnas.cli.common import add_json, add_shape_args, emit, resolve_shape, seed_arg
from hwnas.errors import ConfigError, HwnasError


def add_parser(commands: Any) -> None:
    """Register ``hwnas profile`` (with ``import``) and ``hwnas devices``."""
    p = commands.add_parser(
        "profile",
        help="measure real latencies of sampled architectures on this machine",
        description="Sample architectures stratified over the MAC range, measure each on a "
        "runtime and append them to profiles/<device-id>/<space>.jsonl. Re-running resumes. "
        "'hwnas profile import CSV ...' imports published measurements instead.",
    )
    p.add_argument("--space", required=False, help="search space (see 'hwnas space list')")
    p.add_argument(
        "--runtime",
        default="onnxruntime-cpu",
        help="runtime (see 'hwnas devices'; default onnxruntime-cpu)",
    )
    p.add_argument("-n", type=int, default=None, help="number of architectures to sample")
    p.add_argument("--archs", default=None, metavar="FILE", help="measure these (one a line)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--threads", type=int, default=1, help="runtime threads (default 1)")
    p.add_argument(
        "--runtime-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another setting of the runtime, e.g. host_copies=true or warmup_seconds=1 for "
        "torch-cuda (repeat for several; see docs/gpu.md)",
    )
    p.add_argument("--seed", type=seed_arg, default=0, help="sample and weights seed (default 0)")
    p.add_argument("--max-seconds", type=float, default=None, help="time cap per architecture")
    p.add_argument(
        "--anchor",
        choices=("auto", "on", "off"),
        default="auto",
        help="drift correction against an anchor model timed in between (default auto: on "
        "for the CPU runtimes; see hwnas/profiling/drift.py)",
    )
    p.add_argument(
        "--lut",
        action="store_true",
        help="also (or, without -n / --archs, only) measure the per-block lookup table: every "
        "block choice at every stage's input shape, into profiles/<device-id>/<space>-lut.jsonl "
        "(mbconv)",
    )
    p.add_argument("--out-dir", default="profiles", help="profiles folder (default profiles/)")
    add_shape_args(p)
    add_json(p)
    p.set_defaults(handler=_cmd_profile)
    sub = p.add_subparsers(dest="profile_command", metavar="SUBCOMMAND")

    imp = sub.add_parser("import", help="import published latencies from a CSV into a profile")
    imp.add_argument("csv", metavar="CSV", help="CSV file (may be gzipped) with a header row")
    imp.add_argument("--space", required=True, help="search space of the architecture strings")
    imp.add_argument("--device", required=True, help="a name for the device, e.g. pixel3")
    imp.add_argument("--arch-column", default="arch_str", help="(default arch_str)")
    imp.add_argument("--latency-column", default=None, help="(default <device>_ms)")
    imp.add_argument("--input-shape", default="3,32,32", metavar="C,H,W", help="(3,32,32)")
    imp.add_argument("--classes", type=int, default=10, help="classes (default 10)")
    imp.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    imp.add_argument("--out-dir", default="profiles", help="profiles folder (default profiles/)")
    add_json(imp)
    imp.set_defaults(handler=_cmd_import)

    dev = commands.add_parser("devices", help="the runtimes this machine can measure")
    add_json(dev)
    dev.set_defaults(handler=_cmd_devices)


def _cmd_profile(args: argparse.Namespace) -> None:
    from hwnas.profiling.profiler import profile_space
    from hwnas.profiling.runtimes import runtime_with_threads
    from hwnas.spaces import create_space

    if args.space is None:
        raise ConfigError("--space", "a search space (see 'hwnas space list')")
    if args.n is not None and args.archs is not None:
        raise ConfigError("-n", "either -n N (sample N architectures) or --archs FILE, not both")
    if args.n is None and args.archs is None and not args.lut:
        raise ConfigError("-n", "-n N (sample N architectures), --archs FILE or --lut")
    space = create_space(args.space)
    shape, classes, _ = resolve_shape(args)
    archs = None
    if args.archs is not None:
        archs = _read_archs(space, Path(args.archs))
    runtime = runtime_with_threads(
        args.runtime, args.threads, **parse_runtime_options(args.runtime_option)
    )
    protocol: dict[str, Any] = {"anchor": args.anchor}
    if args.max_seconds is not None:
        from hwnas.profiling.protocol import DEFAULT_MIN_SECONDS

        if args.max_seconds <= 0:
            raise ConfigError("--max-seconds", "a positive number of seconds", args.max_seconds)
        # A cap below the protocol's minimum timed duration shortens that minimum too.
        min_seconds = min(DEFAULT_MIN_SECONDS, args.max_seconds / 2)
        protocol.update(max_seconds=args.max_seconds, min_seconds=min_seconds)
    info: dict[str, Any] = {"space": space.name, "runtime": runtime.name}
    lines = []
    common: dict[str, Any] = {
        "input_shape": shape,
        "num_classes": classes,
        "batch": args.batch,
        "root": args.out_dir,
        "seed": args.seed,
        "progress": not args.json,
        "protocol": protocol,
    }
    if args.lut:
        from hwnas.profiling.lut import measure_lut

        lut = measure_lut(space, runtime, **common)
        info["lut"] = lut.to_dict()
        lines.append(
            f"block table: measured {lut.measured}, skipped {lut.skipped} already measured, "
            f"{lut.total} blocks; {lut.path} (device {lut.device_id})"
        )
    if args.n is not None or archs is not None:
        run = profile_space(space, runtime, n=args.n, archs=archs, **common)
        info.update(run.to_dict())
        lines.append(
            f"measured {run.measured}, skipped {run.skipped} already measured; "
            f"profile {run.path} (device {run.device_id})"
        )
    emit(args, info, "\n".join(lines))


def parse_runtime_options(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as settings; values are read as YAML scalars (true, 0.5)."""
    import yaml

    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--runtime-option", "KEY=VALUE", item)
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError("--runtime-option", "a YAML scalar after '='", item) from None
    return options


def _read_archs(space: Any, path: Path) -> list[Any]:
    if not path.is_file():
        raise HwnasError(f"--archs {path}: no such file")
    archs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                archs.append(space.parse(line))
            except HwnasError as error:
                raise HwnasError(f"--archs {path} line {number}: {error}") from None
    if not archs:
        raise HwnasError(f"--archs {path}: no architectures")
    return archs


def _cmd_import(args: argparse.Namespace) -> None:
    from hwnas.cli.common import parse_shape
    from hwnas.profiling.importer import import_latency_csv
    from hwnas.profiling.store import append_records, profile_path
    from hwnas.spaces import create_space

    space = create_space(args.space)
    column = args.latency_column or f"{args.device}_ms"
    records = import_latency_csv(
        args.csv,
        space=space,
        device=args.device,
        arch_column=args.arch_column,
        latency_column=column,
        input_shape=parse_shape(args.input_shape),
        num_classes=args.classes,
        batch=args.batch,
    )
    path = profile_path(args.out_dir, records[0].device_id, space.file_stem)
    if path.exists():
        raise HwnasError(
            f"{path} exists already: remove it to import again (imports are not merged)"
        )
    tmp = path.with_name(path.name + ".partial")
    if tmp.exists():
        tmp.unlink()
    append_records(tmp, records)
    tmp.replace(path)
    info = {"path": str(path), "device_id": records[0].device_id, "rows": len(records)}
    emit(args, info, f"imported {len(records)} rows into {path}")


def _cmd_devices(args: argparse.Namespace) -> None:
    from hwnas.profiling import runtime_status

    status = runtime_status()
    if args.json:
        print(json.dumps(status, indent=2))
        return
    for row in status:
        mark = "yes" if row["available"] else "no "
        print(f"{row['name']:22s} {mark}  {row.get('reason') or ''}")
