"""``hwnas space``: list, sample, describe and export architectures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hwnas.cli.common import add_json, add_shape_args, emit, resolve_shape, seed_arg
from hwnas.errors import ConfigError


def add_parser(commands: Any) -> None:
    """Register ``hwnas space`` and its subcommands."""
    space = commands.add_parser("space", help="list, sample, describe and export architectures")
    space_cmds = space.add_subparsers(dest="space_command", metavar="SUBCOMMAND", required=True)

    p = space_cmds.add_parser("list", help="the registered search spaces")
    add_json(p)
    p.set_defaults(handler=_cmd_space_list)

    p = space_cmds.add_parser("sample", help="random architectures of a space")
    p.add_argument("space", metavar="SPACE")
    p.add_argument("-n", type=int, default=1, help="number of architectures (default 1)")
    p.add_argument("--seed", type=seed_arg, default=0, help="random seed (default 0)")
    p.add_argument("--out", default=None, metavar="PATH", help="also write them, one per line")
    add_json(p)
    p.set_defaults(handler=_cmd_space_sample)

    p = space_cmds.add_parser("describe", help="an architecture's MACs, params and encoding")
    p.add_argument("space", metavar="SPACE")
    p.add_argument("arch", metavar="ARCH", help="architecture string (quote it)")
    add_shape_args(p)
    add_json(p)
    p.set_defaults(handler=_cmd_space_describe, seed=0)

    p = space_cmds.add_parser("export", help="export an (untrained) architecture to ONNX")
    p.add_argument("space", metavar="SPACE")
    p.add_argument("arch", metavar="ARCH", help="architecture string (quote it)")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="where to write the model")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--seed", type=seed_arg, default=0, help="seed of the random weights (default 0)"
    )
    add_shape_args(p)
    add_json(p)
    p.set_defaults(handler=_cmd_space_export)


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
    shape, classes, source = resolve_shape(args)
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
    info.update(space.describe(arch))
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
    emit(args, info, text)


def _cmd_space_export(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from hwnas.data.inputs import random_input
    from hwnas.nn import build_model, recalibrate_batchnorm
    from hwnas.onnx_export import MAX_OPSET, MIN_OPSET, export_onnx, onnx_parity
    from hwnas.spaces import create_space

    if not MIN_OPSET <= args.opset <= MAX_OPSET:
        raise ConfigError("--opset", f"an ONNX opset from {MIN_OPSET} to {MAX_OPSET}", args.opset)
    if Path(args.out).is_dir():
        raise ConfigError("--out", "the path of an .onnx file, not a folder", args.out)
    space = create_space(args.space)
    arch = space.parse(args.arch)
    shape, classes, _ = resolve_shape(args)
    rng = np.random.default_rng(args.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = build_model(space, arch, shape, classes)

    def inputs(batch: int) -> torch.Tensor:
        # Images, or token ids for a space that reads text.
        return torch.from_numpy(random_input(shape, batch, rng))

    # Untrained: give batch norm statistics of random inputs so outputs stay O(1).
    recalibrate_batchnorm(model, [inputs(8) for _ in range(2)])
    path = export_onnx(
        model,
        args.out,
        shape,
        opset=args.opset,
        metadata={"hwnas.space": space.name, "hwnas.arch": str(arch), "hwnas.trained": "false"},
    )
    diff = onnx_parity(model, path, inputs(2))
    info = {
        "space": space.name,
        "arch": str(arch),
        "out": str(path),
        "opset": args.opset,
        "input_shape": list(shape),
        "num_classes": classes,
        "max_abs_diff": diff,
    }
    emit(args, info, f"wrote {path} (onnxruntime vs PyTorch max abs diff {diff:.2e})")
