"""``hwnas supernet train`` and ``hwnas supernet eval``: weight-sharing accuracy estimates."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from hwnas.cli.common import add_json, emit, seed_arg
from hwnas.errors import ConfigError


def add_parser(commands: Any) -> None:
    """Register ``hwnas supernet`` and its subcommands."""
    group = commands.add_parser(
        "supernet",
        help="train a weight-sharing supernet; evaluate subnets with inherited weights",
    )
    sub = group.add_subparsers(dest="supernet_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser(
        "train",
        help="train the supernet of a space (sandwich rule); re-running with --out resumes",
        description="Train the supernet of a search space with the sandwich rule (largest, "
        "smallest and N random subnets per step). Writes DIR/checkpoint.pt after every epoch "
        "and DIR/weights.pt and DIR/supernet.json at the end; re-running with the same --out "
        "resumes from the checkpoint and ends with the same weights.",
    )
    p.add_argument("--space", required=True, help="search space (see 'hwnas space list')")
    p.add_argument("--data", default="digits", help="dataset (default: digits)")
    p.add_argument("--data-seed", type=int, default=0, help="train/val/test split seed")
    p.add_argument("--epochs", type=int, required=True, help="training epochs")
    p.add_argument("--out", required=True, metavar="DIR", help="output (and resume) folder")
    p.add_argument("--seed", type=seed_arg, default=0, help="training seed (default 0)")
    p.add_argument(
        "--distill",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="in-place distillation from the largest subnet (default: on)",
    )
    p.add_argument("--random-subnets", type=int, default=2, help="per step (default 2)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (default 0.1)")
    _add_threads_and_json(p, _cmd_train)

    p = sub.add_parser("eval", help="evaluate one architecture with inherited weights")
    p.add_argument("dir", metavar="DIR", help="folder written by 'hwnas supernet train'")
    p.add_argument("arch", metavar="ARCH", help="architecture string (quote it)")
    p.add_argument("--data", default=None, help="dataset (default: the one trained on)")
    p.add_argument("--calib-batches", type=int, default=4, help="BN batches (default 4)")
    p.add_argument("--calib-batch-size", type=int, default=128, help="(default 128)")
    p.add_argument("--seed", type=seed_arg, default=0, help="calibration seed (default 0)")
    _add_threads_and_json(p, _cmd_eval)


def _add_threads_and_json(p: argparse.ArgumentParser, handler: Callable[..., None]) -> None:
    """The options both subcommands end with, and the subcommand's handler."""
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    add_json(p)
    p.set_defaults(handler=handler)


def _cmd_train(args: argparse.Namespace) -> None:
    from hwnas.data import load_dataset
    from hwnas.data.load import absolute_spec
    from hwnas.nn.supernet import build_supernet, train_supernet
    from hwnas.spaces import create_space
    from hwnas.train import Recipe

    if args.random_subnets < 0:
        raise ConfigError("--random-subnets", "an integer >= 0", args.random_subnets)
    space = create_space(args.space)
    recipe = Recipe(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, threads=args.threads
    )
    dataset = load_dataset(args.data, seed=args.data_seed)
    supernet = build_supernet(space, dataset.input_shape, dataset.num_classes, seed=args.seed)
    result = train_supernet(
        supernet,
        dataset,
        recipe,
        seed=args.seed,
        num_random=args.random_subnets,
        distill=args.distill,
        out_dir=args.out,
        progress=not args.json,
        extra_info={"dataset": {"spec": absolute_spec(args.data), "seed": args.data_seed}},
    )
    payload = {"out": args.out, **result.to_dict()}
    lines = [f"{space.name} supernet, {result.epochs_done} epochs, {result.seconds:.1f} s"]
    for name, metrics in result.subnets.items():
        lines.append(f"{name:9s} val accuracy {metrics['accuracy']:.4f}")
    lines.append(f"wrote {args.out}/weights.pt and {args.out}/supernet.json")
    emit(args, payload, "\n".join(lines))


def _cmd_eval(args: argparse.Namespace) -> None:
    from hwnas.evaluators.supernet import SupernetEvaluator

    evaluator = SupernetEvaluator(
        args.dir,
        dataset=args.data,
        calib_batches=args.calib_batches,
        calib_batch_size=args.calib_batch_size,
        seed=args.seed,
        threads=args.threads,
    )
    arch = evaluator.space.parse(args.arch)
    result = evaluator.evaluate(arch)
    payload = {"space": evaluator.space.name, "arch": str(arch), **result.to_dict()}
    text = (
        f"{evaluator.space.name} {arch}\n"
        f"val accuracy {result.metrics['accuracy']:.4f}  val loss {result.metrics['val_loss']:.4f}"
        f"  ({result.cost_seconds:.2f} s, inherited weights)"
    )
    emit(args, payload, text)
