"""The ``hwnas`` command: argument parsing, output and exit codes over the Python API.

Every subcommand takes ``--json`` (machine-readable output on stdout). Commands that write
files take ``--out PATH`` and say where they wrote. Errors a user can fix exit with code 2
and one message on stderr, without a traceback; a job that ran but whose result misses the
budgets (nothing feasible found, no exported model meeting them) or a check that failed
exits with 1.

Each command group lives in its own module with an ``add_parser(commands)`` function;
:data:`COMMAND_MODULES` lists them in ``--help`` order.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from hwnas.errors import BudgetsUnmetError, HwnasError, NothingFeasibleError

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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it unwinds as from Ctrl-C (worker
    pools shut down, partial folders removed) instead of dying mid-write."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hwnas`` command; returns the exit code."""
    from hwnas.cli.common import RESUME_HINT

    parser = build_parser()
    args = parser.parse_args(argv)
    RESUME_HINT.clear()
    if args.command in ("run", "search") and getattr(args, "resume", None):
        RESUME_HINT.append(f"hwnas {args.command} --resume {args.resume}")
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        code = args.handler(args)  # a handler may return an exit code (1: a check failed)
    except (BudgetsUnmetError, NothingFeasibleError) as error:
        # The job ran and its result misses the budgets (what it wrote says how close it
        # came): 1, as a search that finds nothing feasible; not 2, a bad input.
        print(f"hwnas: {error}", file=sys.stderr)
        return 1
    except HwnasError as error:
        print(f"hwnas: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        hint = f"; finish it with: {RESUME_HINT[0]}" if RESUME_HINT else ""
        print(f"hwnas: {'terminated' if terminated else 'interrupted'}{hint}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as error:
        # What the system refused (a folder that cannot be written, a full disk, a name
        # too long): its own words and the path, not a traceback.
        print(f"hwnas: error: {_os_error_text(error)}", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = shown
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(code or 0)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """hwnas's own warnings (about the user's data or config) as ``hwnas: warning: ...``,
    without the source line; other packages' as Python shows them."""
    if os.path.abspath(filename).startswith(_PACKAGE + os.sep) and category is UserWarning:
        print(f"hwnas: warning: {message}", file=file or sys.stderr, flush=True)
    else:
        (file or sys.stderr).write(
            warnings.formatwarning(message, category, filename, lineno, line)
        )


def _os_error_text(error: OSError) -> str:
    """``<what the system said>: <path>`` for an OSError."""
    what = error.strerror or str(error) or type(error).__name__
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{what}: {' -> '.join(paths)}" if paths else what
