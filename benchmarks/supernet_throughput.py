"""How many subnets per second a supernet evaluates on this CPU, for each space on digits.

One evaluation is what :class:`hwnas.evaluators.SupernetEvaluator` does: batch-norm
recalibration on the calibration batches (default 4 x 128 training images), then a pass
over the val split. For reference the script also times one forward pass over the val
split alone, through the supernet (subnet active) and through the extracted standalone
model, and reports the cost of an evaluation relative to those. Weights are random (the
cost does not depend on them). Writes ``benchmarks/results/supernet_throughput.json``.

    python benchmarks/supernet_throughput.py             # the committed results
    python benchmarks/supernet_throughput.py -n 5 --out /tmp/quick.json
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

from hwnas import __version__
from hwnas.data import Dataset, load_dataset
from hwnas.evaluators.supernet import SupernetEvaluator
from hwnas.io import atomic_write_json
from hwnas.nn.supernet import build_supernet, recalibrate_subnet
from hwnas.spaces import create_space
from hwnas.train import evaluate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=30, help="random architectures per space")
    parser.add_argument("--spaces", default="mbconv,nb201")
    parser.add_argument("--calib-batches", type=int, default=4)
    parser.add_argument("--calib-batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/supernet_throughput.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dataset = load_dataset("digits", seed=0)
    results = {name: measure(name, dataset, args) for name in args.spaces.split(",")}
    payload = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "hwnas": __version__,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "threads": args.threads,
        "dataset": dataset.summary() | {"spec": "digits"},
        "calibration": {"batches": args.calib_batches, "batch_size": args.calib_batch_size},
        "spaces": results,
    }
    atomic_write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


def measure(name: str, dataset: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """Evaluation, recalibration and plain forward-pass times over ``args.n`` archs."""
    space = create_space(name)
    supernet = build_supernet(space, dataset.input_shape, dataset.num_classes, seed=args.seed)
    evaluator = SupernetEvaluator(
        supernet,
        dataset,
        calib_batches=args.calib_batches,
        calib_batch_size=args.calib_batch_size,
        seed=args.seed,
    )
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.n)]
    evaluator.evaluate(archs[0])  # warm-up
    rows = []
    started = time.perf_counter()
    for arch in archs:
        cost = evaluator.evaluate(arch).cost_seconds
        t0 = time.perf_counter()
        recalibrate_subnet(supernet, arch, evaluator.calibration_batches)
        recalibrate = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluate(supernet, dataset.val)
        forward_supernet = time.perf_counter() - t0
        model = supernet.extract(arch).eval()
        t0 = time.perf_counter()
        evaluate(model, dataset.val)
        forward_standalone = time.perf_counter() - t0
        rows.append((cost, recalibrate, forward_supernet, forward_standalone))
    total = time.perf_counter() - started
    cost, recal, fwd_super, fwd_alone = (statistics.median(col) for col in zip(*rows, strict=True))
    summary = {
        "archs": len(archs),
        "subnets_per_second": len(rows) / sum(r[0] for r in rows),
        "median_eval_seconds": cost,
        "median_recalibration_seconds": recal,
        "median_val_forward_supernet_seconds": fwd_super,
        "median_val_forward_standalone_seconds": fwd_alone,
        "eval_over_val_forward_supernet": cost / fwd_super,
        "eval_over_val_forward_standalone": cost / fwd_alone,
        "val_images": len(dataset.val),
        "calibration_images": sum(len(b) for b in evaluator.calibration_batches),
        "benchmark_wall_seconds": total,
    }
    print(
        f"{name}: {summary['subnets_per_second']:.1f} subnets/s, one evaluation = "
        f"{summary['eval_over_val_forward_standalone']:.1f} x a standalone val forward pass"
    )
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
