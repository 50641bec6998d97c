"""``hwnas fit`` (latency predictors from profiles, or few-shot transfer) and ``hwnas predict``
(and ``hwnas predict --check``: a predictor against measurements on this machine)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from hwnas.cli.common import add_json, emit, seed_arg
from hwnas.errors import ConfigError, HwnasError


def add_parser(commands: Any) -> None:
    """Register ``hwnas fit`` and ``hwnas predict``."""
    from hwnas.predictors.models import MODEL_NAMES
    from hwnas.predictors.transfer import TRANSFER_METHODS

    p = commands.add_parser(
        "fit",
        help="fit a latency predictor on a profile (or transfer from other devices)",
        description="Fit a latency predictor on a device profile, report its accuracy on "
        "held-out architectures beside the MAC-count baseline, refit on all of the profile "
        "and write it (default predictors/<device-id>/<space>.json). With --transfer-from, "
        "fit from predictors of other devices and --samples K measured architectures of "
        "the profile instead, and report accuracy on the rest.",
    )
    p.add_argument("profile", metavar="PROFILE", help="profile file (profiles/<id>/<space>.jsonl)")
    p.add_argument(
        "--model",
        default=None,
        help=f"one of {', '.join(MODEL_NAMES)} (default auto: chosen by cross-validation)",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="share of architectures held out for the report (default 0.2)",
    )
    p.add_argument("--cv", type=int, default=5, help="cross-validation folds for auto (default 5)")
    p.add_argument(
        "--features",
        default=None,
        metavar="BLOCKS",
        help="comma-separated feature blocks, from: onehot (per-choice indicators), costs "
        "(MACs, params), ops (per-operator-kind counts and MACs) (default ops,costs)",
    )
    p.add_argument(
        "--lut",
        default=None,
        metavar="FILE",
        help="add the sum of a measured per-block lookup table (hwnas profile --lut) as a "
        "feature; FILE is profiles/<device-id>/<space>-lut.jsonl of the same device",
    )
    p.add_argument(
        "--seed", type=seed_arg, default=0, help="split, sample and model seed (default 0)"
    )
    p.add_argument(
        "--transfer-from",
        action="append",
        default=None,
        metavar="PREDICTOR",
        help="a source device's predictor file (repeat for several)",
    )
    p.add_argument(
        "--samples", type=int, default=None, help="K: target measurements used with --transfer-from"
    )
    p.add_argument(
        "--method",
        default=None,
        help=f"transfer method: one of {', '.join(TRANSFER_METHODS)} (default nnls-macs)",
    )
    p.add_argument("--out", default=None, metavar="PATH", help="where to write the predictor")
    add_json(p)
    p.set_defaults(handler=_cmd_fit)

    p = commands.add_parser(
        "predict",
        help="predict latencies with a fitted predictor (or --check one on this machine)",
        description="Predict the latency (ms) of architectures on a predictor's device. "
        "With --check PREDICTOR, measure reference architectures spread over its latency "
        "range on this machine and compare: exit code 0 when they agree (at least 80 % "
        "within 10 % and a median measured/predicted ratio within 0.9-1.1), 1 when not.",
    )
    p.add_argument("arch", metavar="ARCH", nargs="?", default=None, help="architecture string")
    p.add_argument("--archs", default=None, metavar="FILE", help="architectures, one a line")
    # One of them is required: argparse says so (exit code 2) before anything runs.
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--predictor", default=None, metavar="P", help="predictor file")
    which.add_argument(
        "--check", default=None, metavar="PREDICTOR", help="check this predictor file here"
    )
    p.add_argument(
        "--points", type=int, default=None, help="reference architectures (--check; default 12)"
    )
    p.add_argument(
        "--runtime",
        default=None,
        help="measure on this runtime even if the predictor was fitted with another "
        "(--check; default: the predictor's runtime and settings, on its device only)",
    )
    p.add_argument(
        "--seed", type=seed_arg, default=0, help="reference sample seed (--check; default 0)"
    )
    add_json(p)
    p.set_defaults(handler=_cmd_predict)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:5.1f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _metrics_lines(label: str, metrics: dict[str, Any] | None) -> list[str]:
    if metrics is None:
        return [f"{label:22s} (nothing held out)"]
    return [
        f"{label:22s} within 10 % {_pct(metrics['within_10pct'])}   within 5 % "
        f"{_pct(metrics['within_5pct'])}   MAPE {_pct(metrics['mape'])}   "
        f"RMSE {metrics['rmse_ms']:.3f} ms   Spearman {_num(metrics['spearman'])}   "
        f"Kendall {_num(metrics['kendall_tau'])}"
    ]


def _cmd_fit(args: argparse.Namespace) -> None:
    if args.transfer_from:
        for flag, value in (("--features", args.features), ("--lut", args.lut)):
            if value is not None:
                raise ConfigError(flag, "not with --transfer-from (sources are the features)")
        _fit_transfer(args)
        return
    if args.samples is not None:
        raise ConfigError("--samples", "to be used together with --transfer-from")
    if args.method is not None:
        raise ConfigError("--method", "to be used together with --transfer-from")
    from hwnas.predictors.features import FEATURE_BLOCKS
    from hwnas.predictors.latency import fit_profile

    features = None
    if args.features is not None:
        features = [b.strip() for b in args.features.split(",") if b.strip()]
        unknown = [b for b in features if b not in FEATURE_BLOCKS]
        if not features or unknown:
            raise ConfigError(
                "--features",
                f"a comma-separated list of {', '.join(FEATURE_BLOCKS.names())}",
                args.features,
            )
    if args.lut is not None:
        from hwnas.predictors.features import FeatureSpec
        from hwnas.profiling.lut import lut_feature_block
        from hwnas.profiling.store import read_profile

        block = lut_feature_block(args.lut)
        records = read_profile(args.profile)
        if records and records[0].device_id != block.device_id:
            raise HwnasError(
                f"--lut {args.lut}: measured on device {block.device_id}, but the profile's "
                f"device is {records[0].device_id}"
            )
        base = features or [b.name for b in FeatureSpec().blocks]
        features = [*[b for b in base if b != "block-lut"], block]
    predictor, metrics = fit_profile(
        args.profile,
        model=args.model or "auto",
        test_fraction=args.test_fraction,
        seed=args.seed,
        cv=args.cv,
        features=features,
    )
    lines = [
        f"model                  {metrics['model']} (fitted on {metrics['n_train']} records, "
        f"{metrics['n_test']} held out; refitted on all {predictor.n_train_}; features "
        f"{','.join(metrics['features'])})",
        *_metrics_lines("held-out", metrics["held_out"]),
        *_metrics_lines("baseline linear-macs", metrics["baseline_linear_macs"]),
    ]
    for name, score in metrics["cv_scores"].items():
        lines.append(
            f"  cv {name:18s} mean |log error| {score['male']:.4f}   within 10 % "
            f"{_pct(score['within_10pct'])}   Spearman {_num(score['spearman'])}"
        )
    _save_and_emit(args, predictor, {"n_records": predictor.n_train_, **metrics}, lines)


def _fit_transfer(args: argparse.Namespace) -> None:
    from hwnas.predictors.transfer import fit_transfer

    if args.samples is None:
        raise ConfigError(
            "--samples", "K, the number of target measurements (with --transfer-from)"
        )
    if args.model is not None:
        raise ConfigError("--model", "no --model with --transfer-from (use --method)")
    predictor, metrics = fit_transfer(
        args.profile,
        args.transfer_from,
        samples=args.samples,
        seed=args.seed,
        method=args.method or "nnls-macs",
    )
    lines = [
        f"transfer               {metrics['method']} from {len(predictor.sources_)} source(s), "
        f"{metrics['samples']} target architectures ({metrics['n_test']} records held out)",
        *_metrics_lines("held-out", metrics["held_out"]),
        *_metrics_lines("linear-macs on K", metrics["baseline_linear_macs"]),
        "leaned on:",
    ]
    for name, share in sorted(metrics["shares"].items(), key=lambda kv: -kv[1]):
        if share > 0:
            lines.append(f"  {100 * share:5.1f} %  {name}")
    _save_and_emit(args, predictor, metrics, lines)


def _save_and_emit(
    args: argparse.Namespace, predictor: Any, details: dict[str, Any], lines: list[str]
) -> None:
    """Save ``predictor`` to ``--out`` and print what was fitted (or its JSON)."""
    path = predictor.save(args.out)
    payload = {
        "predictor": str(path),
        "kind": predictor.kind,
        "space": predictor.space_,
        "device_id": predictor.device_id_,
        **details,
    }
    emit(args, payload, "\n".join([*lines, f"wrote {path}"]))


def _read_arch_lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        raise HwnasError(f"--archs {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise HwnasError(f"--archs {path}: not UTF-8 text") from None
    archs = [(i + 1, line.strip()) for i, line in enumerate(text.splitlines())]
    archs = [(i, a) for i, a in archs if a and not a.startswith("#")]
    if not archs:
        raise HwnasError(f"--archs {path}: expected one architecture a line, got none")
    return archs


def _cmd_check(args: argparse.Namespace) -> int:
    from hwnas.export.manifest import calibration_text
    from hwnas.predictors import load_predictor
    from hwnas.profiling.calibration import DEFAULT_POINTS, calibrate, predictor_runtime
    from hwnas.profiling.runtimes import runtime_with_threads

    for flag, value in (("ARCH", args.arch), ("--archs", args.archs)):
        if value is not None:
            raise ConfigError(flag, "not with --check (it measures its own architectures)")
    points = DEFAULT_POINTS if args.points is None else args.points
    if points < 3:
        raise ConfigError("--points", "an integer >= 3", points)
    predictor = load_predictor(args.check)
    if args.runtime is None:
        runtime = predictor_runtime(predictor)
    else:
        threads = predictor.fingerprint_.get("threads") or 1
        runtime = runtime_with_threads(args.runtime, int(threads), check=False)
    result = calibrate(
        predictor,
        runtime,
        policy="check",
        points=points,
        seed=args.seed,
        check_device=args.runtime is None,
        predictor_path=args.check,
        progress=not args.json,
    )
    if not result.checked:
        raise HwnasError(f"cannot check {args.check} here: {result.reason}")
    data = result.to_dict()
    assert result.before is not None
    rows = zip(
        result.before.archs, result.before.measured_ms, result.before.predicted_ms, strict=True
    )
    lines = [f"{'measured ms':>12s}  {'predicted ms':>12s}  ratio  arch"]
    lines += [f"{m:12.4f}  {p:12.4f}  {m / p:5.2f}  {a}" for a, m, p in rows]
    verdict = "passes" if result.passed else "FAILS"
    tolerance = result.tolerance
    lines.append(
        f"{args.check}: {calibration_text(data)}: {verdict} (needs >= "
        f"{100 * tolerance.min_within_10pct:.0f} % within 10 % and a ratio within "
        f"1 ± {tolerance.max_ratio_error:g}; {result.seconds:.0f} s)"
    )
    emit(args, data, "\n".join(lines))
    return 0 if result.passed else 1


def _cmd_predict(args: argparse.Namespace) -> int:
    from hwnas.errors import ArchError
    from hwnas.predictors import load_predictor

    if args.check is not None:
        return _cmd_check(args)
    for flag, value in (("--points", args.points), ("--runtime", args.runtime)):
        if value is not None:
            raise ConfigError(flag, "to be used together with --check")
    if (args.arch is None) == (args.archs is None):
        raise ConfigError("ARCH", "either an architecture string or --archs FILE")
    predictor = load_predictor(args.predictor)
    lines = [(0, args.arch)] if args.arch is not None else _read_arch_lines(Path(args.archs))
    start = time.perf_counter()
    space = predictor.space()
    parsed = []
    for number, text in lines:
        try:
            parsed.append(space.parse(text))
        except ArchError as error:
            where = f"--archs {args.archs} line {number}" if args.archs else "ARCH"
            raise HwnasError(f"{where}: {error}") from None
    latencies = predictor.predict(parsed)
    seconds = time.perf_counter() - start
    rows = [
        {"arch": str(a), "latency_ms": float(ms)} for a, ms in zip(parsed, latencies, strict=True)
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "predictor": args.predictor,
                    "space": predictor.space_,
                    "device_id": predictor.device_id_,
                    "n": len(rows),
                    "seconds": seconds,
                    "predictions": rows,
                },
                indent=2,
            )
        )
        return 0
    for row in rows:
        print(f"{row['latency_ms']:.4f}\t{row['arch']}")
    if len(rows) > 1:
        print(
            f"{len(rows)} architectures in {seconds:.3f} s on {predictor.device_id_}",
            file=sys.stderr,
        )
    return 0
