"""``hwnas search``: a search from a YAML config, or ``--resume`` of a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hwnas.cli.common import add_json, add_new_run_args, resume_hint, stderr_say
from hwnas.errors import ConfigError


def add_parser(commands: Any) -> None:
    """Register ``hwnas search``."""
    p = commands.add_parser(
        "search",
        help="search under budgets; writes runs/<id>/ (config, run.db, pareto.json)",
        description="Run a search from a YAML config (see configs/), or continue an "
        "interrupted one with --resume runs/<id>: finished candidates are never lost.",
    )
    p.add_argument("config", nargs="?", metavar="CONFIG", help="YAML config file")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue this run folder")
    add_new_run_args(p)
    p.add_argument(
        "--predictors-dir",
        default="predictors",
        help="where this machine's predictor is looked up when the config names none "
        "(default predictors/)",
    )
    add_json(p)
    p.set_defaults(handler=_cmd_search)


def _with_this_machines_predictor(args: argparse.Namespace, say: Any) -> Any:
    """The config, with ``device.predictor`` set to this machine's predictor in
    ``predictors/`` (the one ``hwnas run`` would use) when it names none."""
    from pathlib import Path

    from hwnas.config import load_config, validate_config
    from hwnas.pipeline import find_predictor
    from hwnas.runs import check_text_data

    config = load_config(args.config)
    # The data and the space first: no predictor helps a space that cannot read them.
    check_text_data(config)
    if config.device is None or config.device.predictor is not None:
        return config
    path, why = find_predictor(config, predictors_dir=args.predictors_dir)
    if path is None:
        where = Path(args.predictors_dir)
        run = f"hwnas run {args.config}" + (
            f" --predictors-dir {where}" if where != Path("predictors") else ""
        )
        raise ConfigError(
            "device.predictor",
            f"the path of a fitted latency predictor: none fits this machine in {where}/ "
            f"({why}); '{run}' profiles this machine and fits one there before it "
            "searches (and exports and reports), or 'hwnas profile' and 'hwnas fit' make "
            "one",
        )
    say(f"latency predictor: {path} (this machine's; device.predictor names none)")
    device = config.device.model_copy(update={"predictor": path})
    return validate_config({**config.to_dict(), "device": device.model_dump()})


def _cmd_search(args: argparse.Namespace) -> int | None:
    from hwnas.runs import resume, search

    if (args.config is None) == (args.resume is None):
        raise ConfigError("CONFIG", "a config file, or --resume RUN (not both)")
    if args.resume is not None:
        run = resume(args.resume, progress=not args.json)
    else:
        say = (lambda line: None) if args.json else stderr_say("search")
        run = search(
            _with_this_machines_predictor(args, say),
            runs_dir=args.runs_dir,
            run_id=args.run_id,
            progress=not args.json,
            log=None if args.json else lambda line: print(line, file=sys.stderr, flush=True),
            on_created=resume_hint("search"),
        )
    result = run.result
    nothing = None if result.pareto else _nothing_feasible(run.path)
    if args.json:
        info = run.to_dict()
        if nothing is not None:
            info["nothing_feasible"] = nothing
        print(json.dumps(info, indent=2))
        return None if nothing is None else 1
    objectives = list(run.config.objectives)
    print(
        f"run {run.path}: {result.evaluations} evaluations, {result.generations} steps, "
        f"{result.seconds:.1f} s, stopped by {result.stopped_by}"
    )
    print(f"hypervolume {result.hypervolume:.4f}; Pareto set ({len(result.pareto)}):")
    header = ["accuracy", *[o for o in objectives if o != "error"], "arch"]
    print("  " + "  ".join(f"{h:>12s}" for h in header[:-1]) + "  arch")
    for c in result.pareto:
        values = [c.metrics.get("accuracy", float("nan"))]
        values += [c.metrics[o] for o in objectives if o != "error"]
        print("  " + "  ".join(f"{v:12.4g}" for v in values) + f"  {c.arch}")
    if run.calibration is not None:
        from hwnas.export.manifest import calibration_text

        print(calibration_text(run.calibration))
    print(f"wrote {run.path / 'pareto.json'}")
    if nothing is not None:
        print(f"hwnas: {nothing}", file=sys.stderr)
        return 1
    return None


def _nothing_feasible(run_dir: Any) -> str:
    """Why a finished search found nothing that meets the budgets (how close it came)."""
    from hwnas.export.selection import nothing_feasible_message
    from hwnas.runs import open_run

    opened = open_run(run_dir)
    with opened.store() as store:
        candidates = store.candidates()
    return nothing_feasible_message(
        candidates, opened.components.budgets, opened.components.search_budgets
    )
