"""``hwnas search``: a search from a YAML config, or ``--resume`` of a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hwnas.cli.common import add_json, add_new_run_args, resume_hint
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
    add_json(p)
    p.set_defaults(handler=_cmd_search)


def _cmd_search(args: argparse.Namespace) -> None:
    from hwnas.runs import resume, search

    if (args.config is None) == (args.resume is None):
        raise ConfigError("CONFIG", "a config file, or --resume RUN (not both)")
    if args.resume is not None:
        run = resume(args.resume, progress=not args.json)
    else:
        run = search(
            args.config,
            runs_dir=args.runs_dir,
            run_id=args.run_id,
            progress=not args.json,
            log=None if args.json else lambda line: print(line, file=sys.stderr, flush=True),
            on_created=resume_hint("search"),
        )
    if args.json:
        print(json.dumps(run.to_dict(), indent=2))
        return
    result = run.result
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
