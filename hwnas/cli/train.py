"""``hwnas train``: train one architecture from scratch and evaluate it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwnas.cli.common import add_json, emit, seed_arg


def add_parser(commands: Any) -> None:
    """Register ``hwnas train``."""
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
    p.add_argument("--seed", type=seed_arg, default=0, help="training seed (default 0)")
    p.add_argument("--data-seed", type=int, default=0, help="train/val/test split seed")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--out", default=None, metavar="DIR", help="write result.json and model.onnx")
    add_json(p)
    p.set_defaults(handler=_cmd_train)


# -- hwnas train -----------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace) -> None:

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
        threads=args.threads,
    )
    dataset = load_dataset(args.data, seed=args.data_seed)
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
        info["out"] = _write_trained(args.out, model, dataset, info, result)
    text = (
        f"{space.name} {arch}\n"
        f"val accuracy  {result.val_accuracy:.4f}\n"
        f"test accuracy {result.test_accuracy:.4f}\n"
        f"MACs {costs.macs / 1e6:.3f} M, params {costs.params / 1e6:.3f} M, "
        f"{result.seconds:.1f} s for {recipe.epochs} epochs"
        + (f"\nwrote {info['out']['result']} and {info['out']['model']}" if args.out else "")
    )
    emit(args, info, text)


def _write_trained(
    out: str, model: Any, dataset: Any, info: dict[str, Any], result: Any
) -> dict[str, str]:
    import json

    from hwnas.data.readers.text import token_metadata
    from hwnas.io import atomic_write_json
    from hwnas.onnx_export import export_onnx, onnx_parity

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    shape = dataset.input_shape
    model_path = export_onnx(
        model,
        folder / "model.onnx",
        shape,
        metadata={
            "hwnas.space": info["space"],
            "hwnas.arch": info["arch"],
            "hwnas.val_accuracy": f"{info['val_accuracy']:.6f}",
            "hwnas.test_accuracy": f"{info['test_accuracy']:.6f}",
            "hwnas.trained": "true",
            "hwnas.classes": json.dumps(list(dataset.classes)),
            # Text only: the vocabulary and how to pad, as export writes them.
            **token_metadata(dataset.vocabulary, shape[0], dataset.tokenizer or "char"),
        },
    )
    # Real validation inputs: images, or token ids for a space that reads text.
    diff = onnx_parity(model, model_path, dataset.val.x[:4])
    result_path = folder / "result.json"
    atomic_write_json(result_path, {**info, "onnx_max_abs_diff": diff, "history": result.history})
    return {"result": str(result_path), "model": str(model_path)}
