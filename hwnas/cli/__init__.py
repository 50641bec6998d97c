"""The ``hwnas`` command: argument parsing, output and exit codes over the Python API.

Every subcommand takes ``--json`` (machine-readable output on stdout). Commands that write
files take ``--out PATH`` and say where they wrote. Errors a user can fix exit with code 2
and one message on stderr, without a traceback.

Each command group lives in its own module with an ``add_parser(commands)`` function;
:data:`COMMAND_MODULES` lists them in ``--help`` order.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hwnas.errors import HwnasError

COMMAND_MODULES = (
    "hwnas.cli.space",
    "hwnas.cli.train",
    "hwnas.cli.profile",
    "hwnas.cli.search",
    "hwnas.cli.supernet",
    "hwnas.cli.predict",
    "hwnas.cli.export",
    "hwnas.cli.baselines",
    "hwnas.cli.report",
    "hwnas.cli.run",
    "hwnas.cli.bench",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hwnas`` command."""
    from hwnas import __version__

    parser = argparse.ArgumentParser(
        prog="hwnas",
        description="Hardware-aware neural architecture search: profile, fit, search, export.",
    )
    parser.add_argument("--version", action="version", version=f"hwnas {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hwnas`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)  # a handler may return an exit code (1: a check failed)
    except HwnasError as error:
        print(f"hwnas: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwnas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return int(code or 0)
