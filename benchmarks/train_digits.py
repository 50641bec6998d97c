"""Standalone training of a few architectures on the embedded digits data.

Prints a table and writes ``benchmarks/results/train_digits.json`` (and ``.csv``): for each
architecture its validation and test accuracy, MACs, parameters and training seconds on
this machine. The README quotes these figures.

    python benchmarks/train_digits.py            # the committed results
    python benchmarks/train_digits.py --epochs 5 --out /tmp/quick.json
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
import sys
from pathlib import Path

import torch

from hwnas import __version__
from hwnas.costs import count_costs
from hwnas.data import load_dataset
from hwnas.io import atomic_write_json, atomic_write_text
from hwnas.spaces import create_space
from hwnas.train import Recipe, train_arch

ARCHS = [
    ("mbconv", "w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1"),
    ("mbconv", "w1-relu:k3e4|w1-relu:k3e4,k3e4|w1-relu:k3e4,k3e4|w1-relu:k3e4|w1-relu:k3e4"),
    (
        "mbconv",
        "w0.75-hswish-se:k5e3,k3e3|w0.75-hswish:k5e6,k3e3|w1-hswish-se:k5e4,k5e4,k3e4"
        "|w0.75-relu:k3e6|w1-hswish-se:k3e6",
    ),
    ("mbconv", "w1-relu:k7e6|w1-relu:k7e6,k7e6|w1-relu:k7e6,k7e6,k7e6|w1-relu:k7e6|w1-relu:k7e6"),
    (
        "nb201",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/train_digits.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dataset = load_dataset("digits", seed=0)
    recipe = Recipe(epochs=args.epochs)
    rows = []
    for space_name, text in ARCHS:
        space = create_space(space_name)
        arch = space.parse(text)
        model, result = train_arch(space, arch, dataset, recipe, seed=args.seed, evaluate_test=True)
        costs = count_costs(model, dataset.input_shape)
        row = {
            "space": space_name,
            "arch": text,
            "val_accuracy": round(result.val_accuracy, 4),
            "test_accuracy": round(float(result.test_accuracy or 0.0), 4),
            "macs": costs.macs,
            "params": costs.params,
            "train_seconds": round(result.seconds, 1),
        }
        rows.append(row)
        print(
            f"{space_name:7s} val {row['val_accuracy']:.4f} test {row['test_accuracy']:.4f} "
            f"MACs {costs.macs / 1e6:7.3f} M params {costs.params / 1e6:6.3f} M "
            f"{row['train_seconds']:6.1f} s  {text}",
            flush=True,
        )
    out = Path(args.out)
    meta = {
        "command": "python " + " ".join(sys.argv),
        "hwnas": __version__,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpu_threads": args.threads,
        "dataset": dataset.summary(),
        "recipe": recipe.to_dict(),
        "seed": args.seed,
    }
    atomic_write_json(out, {"meta": meta, "results": rows})
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out.with_suffix(".csv"), table.getvalue())
    print(f"wrote {out} and {out.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
