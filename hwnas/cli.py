"""The ``hwnas`` command: argument parsing, output and exit codes over the Python API.

Every subcommand takes ``--json`` (machine-readable output on stdout). Commands that write
files take ``--out PATH`` and say where they wrote. Errors a user can fix exit with code 2
and one message on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hwnas.errors import ConfigError, HwnasError

Handler = Callable[[argparse.Namespace], Any]


# -- shared argument helpers -----------------------------------------------------------
def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _add_shape_args(parser: argparse.ArgumentParser) -> None:
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
        "--input-shape", default=None, metavar="C,H,W", help="input shape instead of --data"
    )
    group.add_argument(
        "--classes", type=int, default=None, help="number of classes (with --input-shape)"
    )


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError("--input-shape", "three positive integers C,H,W", text) from None
    if len(values) != 3 or min(values) < 1:
        raise ConfigError("--input-shape", "three positive integers C,H,W", text)
    return values  # type: ignore[return-value]


def _resolve_shape(args: argparse.Namespace) -> tuple[tuple[int, int, int], int, str]:
    """Input shape, number of classes, and where they came from."""
    if args.input_shape is not None:
        if args.data is not None:
            raise ConfigError("--input-shape", "either --data or --input-shape, not both")
        if args.classes is None:
            raise ConfigError("--classes", "a number of classes (required with --input-shape)")
        if args.classes < 2:
            raise ConfigError("--classes", "an integer >= 2", args.classes)
        return _parse_shape(args.input_shape), args.classes, "--input-shape"
    if args.classes is not None:
        raise ConfigError("--classes", "to be used together with --input-shape")
    from hwnas.data import load_dataset

    dataset = load_dataset(args.data or "digits", seed=getattr(args, "seed", 0))
    return dataset.input_shape, dataset.num_classes, dataset.name


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print(text)


# -- hwnas space ... -------------------------------------------------------------------
def _cmd_space_list(args: argparse.Namespace) -> None:
    from hwnas.spaces import create_space, list_spaces

    names = list_spaces()
    if args.json:
        print(json.dumps(names))
        return
    for name in names:
        space = create_space(name)
        print(f"{name}\t{space.size():.3g} architectures, {space.n_dims} encoding dimensions")


def _cmd_space_sample(args: argparse.Namespace) -> None:
    import numpy as np

    from hwnas.spaces import create_space

    if args.n < 1:
        raise ConfigError("-n", "a positive number of architectures", args.n)
    space = create_space(args.space)
    rng = np.random.default_rng(args.seed)
    archs = [str(space.sample(rng)) for _ in range(args.n)]
    if args.out:
        from hwnas.io import atomic_write_text

        atomic_write_text(args.out, "".join(a + "\n" for a in archs))
    if args.json:
        print(json.dumps(archs))
    else:
        print("\n".join(archs))
    if args.out:
        print(f"wrote {len(archs)} architectures to {args.out}", file=sys.stderr)


def _describe(space_name: str, arch_text: str, args: argparse.Namespace) -> dict[str, Any]:
    from hwnas.costs import count_costs
    from hwnas.nn import build_model
    from hwnas.spaces import create_space

    space = create_space(space_name)
    arch = space.parse(arch_text)
    shape, classes, source = _resolve_shape(args)
    model = build_model(space, arch, shape, classes)
    costs = count_costs(model, shape)
    info: dict[str, Any] = {
        "space": space.name,
        "arch": str(arch),
        "input_shape": list(shape),
        "num_classes": classes,
        "shape_from": source,
        "macs": costs.macs,
        "params": costs.params,
        "encoding": list(space.encode(arch)),
    }
    if space.name == "nb201":
        info["nb201_index"] = space.index(arch)  # type: ignore[attr-defined]
    return info


def _cmd_space_describe(args: argparse.Namespace) -> None:
    info = _describe(args.space, args.arch, args)
    text = "\n".join(
        [
            f"space        {info['space']}",
            f"arch         {info['arch']}",
            f"input        {tuple(info['input_shape'])}, {info['num_classes']} classes "
            f"(from {info['shape_from']})",
            f"MACs         {info['macs']:,} ({info['macs'] / 1e6:.3f} M, batch 1)",
            f"params       {info['params']:,} ({info['params'] / 1e6:.3f} M)",
            f"encoding     {info['encoding']}",
        ]
        + ([f"nb201 index  {info['nb201_index']}"] if "nb201_index" in info else [])
    )
    _emit(args, info, text)


def _cmd_space_export(args: argparse.Namespace) -> None:
    import torch

    from hwnas.nn import build_model, recalibrate_batchnorm
    from hwnas.onnx_export import export_onnx, onnx_parity
    from hwnas.spaces import create_space

    space = create_space(args.space)
    arch = space.parse(args.arch)
    shape, classes, _ = _resolve_shape(args)
    generator = torch.Generator().manual_seed(args.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = build_model(space, arch, shape, classes)
    # Untrained: give batch norm statistics of random inputs so outputs stay O(1).
    recalibrate_batchnorm(model, [torch.randn(8, *shape, generator=generator) for _ in range(2)])
    path = export_onnx(
        model,
        args.out,
        shape,
        opset=args.opset,
        metadata={"hwnas.space": space.name, "hwnas.arch": str(arch), "hwnas.trained": "false"},
    )
    diff = onnx_parity(model, path, torch.randn(2, *shape, generator=generator))
    info = {
        "space": space.name,
        "arch": str(arch),
        "out": str(path),
        "opset": args.opset,
        "input_shape": list(shape),
        "num_classes": classes,
        "max_abs_diff": diff,
    }
    _emit(args, info, f"wrote {path} (onnxruntime vs PyTorch max abs diff {diff:.2e})")


# -- hwnas train -----------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace) -> None:
    import torch

    from hwnas.costs import count_costs
    from hwnas.data import load_dataset
    from hwnas.spaces import create_space
    from hwnas.train import Recipe, train_arch

    space = create_space(args.space)
    arch = space.parse(args.arch)
    recipe = Recipe(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr if args.lr is not None else (0.1 if args.optimizer == "sgd" else 3e-3),
        weight_decay=args.weight_decay
        if args.weight_decay is not None
        else (5e-4 if args.optimizer == "sgd" else 0.05),
        label_smoothing=args.label_smoothing,
        augment=args.augment,
    )
    dataset = load_dataset(args.data, seed=args.data_seed)
    torch.set_num_threads(args.threads) if args.threads else None
    model, result = train_arch(
        space, arch, dataset, recipe, seed=args.seed, evaluate_test=True, progress=not args.json
    )
    costs = count_costs(model, dataset.input_shape)
    info: dict[str, Any] = {
        "space": space.name,
        "arch": str(arch),
        "data": dataset.summary(),
        "recipe": recipe.to_dict(),
        "seed": args.seed,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "macs": costs.macs,
        "params": costs.params,
        "seconds": round(result.seconds, 3),
    }
    if args.out:
        info["out"] = _write_trained(args.out, model, dataset.input_shape, info, result)
    text = (
        f"{space.name} {arch}\n"
        f"val accuracy  {result.val_accuracy:.4f}\n"
        f"test accuracy {result.test_accuracy:.4f}\n"
        f"MACs {costs.macs / 1e6:.3f} M, params {costs.params / 1e6:.3f} M, "
        f"{result.seconds:.1f} s for {recipe.epochs} epochs"
        + (f"\nwrote {info['out']['result']} and {info['out']['model']}" if args.out else "")
    )
    _emit(args, info, text)


def _write_trained(
    out: str, model: Any, input_shape: tuple[int, int, int], info: dict[str, Any], result: Any
) -> dict[str, str]:
    import torch

    from hwnas.io import atomic_write_json
    from hwnas.onnx_export import export_onnx, onnx_parity

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    model_path = export_onnx(
        model,
        folder / "model.onnx",
        input_shape,
        metadata={
            "hwnas.space": info["space"],
            "hwnas.arch": info["arch"],
            "hwnas.val_accuracy": f"{info['val_accuracy']:.6f}",
            "hwnas.test_accuracy": f"{info['test_accuracy']:.6f}",
            "hwnas.trained": "true",
        },
    )
    inputs = torch.randn(4, *input_shape, generator=torch.Generator().manual_seed(0))
    diff = onnx_parity(model, model_path, inputs)
    result_path = folder / "result.json"
    atomic_write_json(result_path, {**info, "onnx_max_abs_diff": diff, "history": result.history})
    return {"result": str(result_path), "model": str(model_path)}


# -- the parser ------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hwnas`` command."""
    from hwnas import __version__

    parser = argparse.ArgumentParser(
        prog="hwnas",
        description="Hardware-aware neural architecture search: profile, fit, search, export.",
    )
    parser.add_argument("--version", action="version", version=f"hwnas {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    space = commands.add_parser("space", help="list, sample, describe and export architectures")
    space_cmds = space.add_subparsers(dest="space_command", metavar="SUBCOMMAND", required=True)

    p = space_cmds.add_parser("list", help="the registered search spaces")
    _add_json(p)
    p.set_defaults(handler=_cmd_space_list)

    p = space_cmds.add_parser("sample", help="random architectures of a space")
    p.add_argument("space", metavar="SPACE")
    p.add_argument("-n", type=int, default=1, help="number of architectures (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default=None, metavar="PATH", help="also write them, one per line")
    _add_json(p)
    p.set_defaults(handler=_cmd_space_sample)

    p = space_cmds.add_parser("describe", help="an architecture's MACs, params and encoding")
    p.add_argument("space", metavar="SPACE")
    p.add_argument("arch", metavar="ARCH", help="architecture string (quote it)")
    _add_shape_args(p)
    _add_json(p)
    p.set_defaults(handler=_cmd_space_describe, seed=0)

    p = space_cmds.add_parser("export", help="export an (untrained) architecture to ONNX")
    p.add_argument("space", metavar="SPACE")
    p.add_argument("arch", metavar="ARCH", help="architecture string (quote it)")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="where to write the model")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    _add_shape_args(p)
    _add_json(p)
    p.set_defaults(handler=_cmd_space_export)

    p = commands.add_parser("train", help="train one architecture from scratch and evaluate it")
    p.add_argument("space", metavar="SPACE")
    p.add_argument("arch", metavar="ARCH", help="architecture string (quote it)")
    p.add_argument("--data", default="digits", help="dataset (default: digits)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    p.add_argument("--lr", type=float, default=None, help="peak learning rate")
    p.add_argument("--weight-decay", type=float, default=None, help="weight decay")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="(default 0.1)")
    p.add_argument("--augment", default="shift", choices=["none", "shift", "shift-flip"])
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--data-seed", type=int, default=0, help="train/val/test split seed")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--out", default=None, metavar="DIR", help="write result.json and model.onnx")
    _add_json(p)
    p.set_defaults(handler=_cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hwnas`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except HwnasError as error:
        print(f"hwnas: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwnas: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
