"""``hwnas run CONFIG``: the main job, end to end."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hwnas.cli.common import add_json, add_new_run_args, resume_hint, stderr_say


def add_parser(commands: Any) -> None:
    """Register ``hwnas run``."""
    p = commands.add_parser(
        "run",
        help="profile (if needed), fit, search, export and report, end to end",
        description="The main job: profile the device if no fitting latency predictor "
        "exists, fit one, search under the config's budgets, export the Pareto set as "
        "verified ONNX files, train and measure the hand-designed baselines and write the "
        "report. A part that fails (a baseline, a plot, a variant) is listed at the end; "
        "the rest goes on. An interrupted one finishes with --resume runs/<id>.",
    )
    p.add_argument(
        "config", metavar="CONFIG", nargs="?", help="YAML config (e.g. configs/digits-cpu.yaml)"
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="finish this interrupted run folder: the search goes on where it stopped, then "
        "export (unless it had finished), the baselines and the report",
    )
    add_new_run_args(p)
    p.add_argument("--profiles-dir", default="profiles", help="(default profiles/)")
    p.add_argument("--predictors-dir", default="predictors", help="(default predictors/)")
    add_json(p)
    p.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int | None:
    from hwnas.errors import ConfigError
    from hwnas.pipeline import resume_pipeline, run_pipeline

    if (args.config is None) == (args.resume is None):
        raise ConfigError("CONFIG", "a config file, or --resume RUN (not both)")
    if args.resume is not None:
        result = resume_pipeline(args.resume, progress=not args.json, log=stderr_say("run"))
    else:
        result = run_pipeline(
            args.config,
            runs_dir=args.runs_dir,
            run_id=args.run_id,
            profiles_dir=args.profiles_dir,
            predictors_dir=args.predictors_dir,
            progress=not args.json,
            log=stderr_say("run"),
            on_created=resume_hint("run"),
        )
    info = result.to_dict()
    if args.json:
        print(json.dumps(info, indent=2))
        return 1 if result.report is None else None
    if result.profile:
        print(f"profile          {result.profile}")
    used = result.predictor_used
    print(f"predictor        {result.predictor}" + (f" (the search used {used})" if used else ""))
    if result.calibration is not None:
        from hwnas.export.manifest import calibration_text

        print(f"calibration      {calibration_text(result.calibration)}")
    from hwnas.export.manifest import speed_text

    if speed := speed_text(result.manifest.get("speed")):
        print(f"latency figures  {speed.removeprefix('latency figures ')}")
    print(f"run folder       {result.run}")
    print(
        f"exported models  {info['exported']} ({info['feasible']} "
        f"{'meets' if info['feasible'] == 1 else 'meet'} the budgets when "
        f"measured; {info['search_front']} from the search's Pareto front, {info['pareto']} "
        f"Pareto-optimal once trained and measured): {info['manifest']}"
    )
    if result.baselines:
        print(f"baselines        {result.baselines}")
    print(f"report           {result.report or 'not written (see the failures below)'}")
    for failure in result.failures:
        print(f"FAILED ({failure['source']}) {failure['part']}: {failure['error']}")
    if result.report is None:
        return 1  # the report is the job's product: a run without one did not finish
    return None
