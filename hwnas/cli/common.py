"""Helpers shared by the ``hwnas`` subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from hwnas.errors import ConfigError


# -- shared argument helpers -----------------------------------------------------------
def seed_arg(text: str) -> int:
    """A ``--seed`` value: an integer numpy, torch and Python all take (0 to 2**32 - 1)."""
    from hwnas.config import MAX_SEED

    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED}, got {seed}")
    return seed


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_run_arg(parser: argparse.ArgumentParser) -> None:
    """The ``RUN`` positional of the commands that work on a finished run."""
    parser.add_argument("run", metavar="RUN", help="run folder (runs/<id>)")


def add_new_run_args(parser: argparse.ArgumentParser) -> None:
    """``--runs-dir`` and ``--run-id``: where the commands that start a run write it."""
    parser.add_argument("--runs-dir", default="runs", help="where run folders go (default runs/)")
    parser.add_argument("--run-id", default=None, help="run folder name (default <name>-<time>)")


#: What an interrupted command says to finish its work (``hwnas run --resume runs/<id>``),
#: set once the run folder it would resume exists.
RESUME_HINT: list[str] = []


def resume_hint(command: str) -> Callable[[Any], None]:
    """Called with a run folder once it exists: an interrupt from then on says how to
    finish it (``hwnas <command> --resume <folder>``)."""

    def remember(folder: Any) -> None:
        RESUME_HINT[:] = [f"hwnas {command} --resume {folder}"]

    return remember


def stderr_say(command: str) -> Callable[[str], None]:
    """A progress logger that prints ``hwnas <command>: <message>`` lines on stderr."""

    def say(message: str) -> None:
        print(f"hwnas {command}: {message}", file=sys.stderr, flush=True)

    return say


def add_shape_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "input shape", "where the input shape and number of classes come from"
    )
    group.add_argument(
        "--data",
        default=None,
        help="dataset: 'digits' (default), or a .npz file, image folder, CIFAR-10 or MNIST "
        "directory (optionally prefixed npz:, imagefolder:, cifar10:, mnist:)",
    )
    group.add_argument(
        "--input-shape",
        default=None,
        metavar="C,H,W",
        help="input shape instead of --data: C,H,W for images, L for token sequences",
    )
    group.add_argument(
        "--classes", type=int, default=None, help="number of classes (with --input-shape)"
    )


def parse_shape(text: str) -> tuple[int, int, int]:
    """``C,H,W`` (an image) or ``L`` (a sequence of token ids) as a tuple of ints (typed as
    the image shape most commands still declare; :mod:`hwnas.data.inputs` takes both)."""
    expected = "three positive integers C,H,W (or one, L, for token sequences)"
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError("--input-shape", expected, text) from None
    if len(values) not in (1, 3) or min(values) < 1:
        raise ConfigError("--input-shape", expected, text)
    return values  # type: ignore[return-value]


def resolve_shape(args: argparse.Namespace) -> tuple[tuple[int, int, int], int, str]:
    """Input shape, number of classes, and where they came from."""
    if args.input_shape is not None:
        if args.data is not None:
            raise ConfigError("--input-shape", "either --data or --input-shape, not both")
        if args.classes is None:
            raise ConfigError("--classes", "a number of classes (required with --input-shape)")
        if args.classes < 2:
            raise ConfigError("--classes", "an integer >= 2", args.classes)
        return parse_shape(args.input_shape), args.classes, "--input-shape"
    if args.classes is not None:
        raise ConfigError("--classes", "to be used together with --input-shape")
    from hwnas.data import load_dataset

    dataset = load_dataset(args.data or "digits", seed=getattr(args, "seed", 0))
    return dataset.input_shape, dataset.num_classes, dataset.name


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print(text)
