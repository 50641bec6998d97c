"""Training-step time per setting: memory format, threads, batch size and input size.

What bounds hwnas's training time on a CPU is PyTorch's convolutions, not the weight
sharing, so this times the very steps hwnas runs (:func:`hwnas.train.train_step` and
:func:`hwnas.nn.supernet.train.sandwich_step`) under each setting, for each space:

- ``largest`` / ``median`` / ``smallest``: one step of a standalone network (the median by
  MACs of 41 random architectures);
- ``sandwich``: one supernet step (largest, smallest and two random subnets);
- ``subnet_eval``: one supernet-evaluator call (batch-norm recalibration on 4 x 128 images,
  then 270 val images, as on digits; no batch size).

Settings are interleaved: every round runs each (memory format, threads) setting of a cell
in turn (the order rotates between rounds), each after a warm-up step, so that a machine
whose load drifts disturbs every setting alike. Compare ratios within one run, not seconds
across runs. Inputs are random images (timing does not depend on the values). Writes
``benchmarks/results/train_step.json`` and prints a table of ratios to contiguous format on
one thread. A loaded machine makes the 2-thread settings very slow (each parallel
operation waits for a time slice of every thread), so the committed file holds four runs
(``runs``, each with its load average and a note): on the loaded machine, both thread
counts at batch 32, then one thread at batch 64; on the idle machine, both thread counts
again at 8x8 (batch 32) and 28x28 (batch 64):

    python benchmarks/train_step.py --inputs 8 --batches 32 --rounds 2 --steps 1
    python benchmarks/train_step.py --inputs 8,28 --batches 64 --threads 1 --rounds 2 \
        --steps 1 --append
    python benchmarks/train_step.py --inputs 8 --batches 32 --rounds 3 --steps 2 --append
    python benchmarks/train_step.py --inputs 28 --batches 64 --rounds 2 --steps 1 --append
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwnas import __version__
from hwnas.costs import count_costs_fast
from hwnas.data import Split
from hwnas.io import atomic_write_json
from hwnas.nn import build_model
from hwnas.nn.supernet import build_supernet, evaluate_subnet
from hwnas.nn.supernet.train import sandwich_step
from hwnas.spaces import create_space, list_spaces
from hwnas.train import (
    Recipe,
    as_input,
    make_optimizer,
    set_memory_format,
    train_step,
    usable_cores,
)

KINDS = ("largest", "median", "smallest", "sandwich", "subnet_eval")
FORMATS = ("contiguous", "channels_last")
NUM_CLASSES = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    known = [s for s in ("mbconv", "nb201", "convnet") if s in list_spaces()]
    parser.add_argument("--spaces", default=",".join(known), help="default: %(default)s")
    parser.add_argument("--inputs", default="8,28", help="square 1-channel input sizes")
    parser.add_argument("--batches", default="32,64")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per setting and round")
    parser.add_argument("--cap", type=float, default=10.0, help="see measure_cell (seconds)")
    parser.add_argument("--note", default="", help="e.g. what else ran on the machine")
    parser.add_argument("--out", default="benchmarks/results/train_step.json")
    parser.add_argument("--append", action="store_true", help="add this run to --out's runs")
    args = parser.parse_args()

    settings = [(f, int(t)) for f in FORMATS for t in args.threads.split(",")]
    previous = torch.get_num_threads()
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    print_header(settings)
    for size in (int(s) for s in args.inputs.split(",")):
        for name in args.spaces.split(","):
            for kind in args.kinds.split(","):
                batches = (
                    [0] if kind == "subnet_eval" else [int(b) for b in args.batches.split(",")]
                )
                for batch in batches:
                    cell = {"space": name, "input": f"1x{size}x{size}", "kind": kind}
                    cell["batch"] = batch or None
                    rows += measure_cell(cell, (1, size, size), settings, args)
                    print_row(rows[-len(settings) :])
    torch.set_num_threads(previous)
    run = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "hwnas": __version__,
        "torch": torch.__version__,
        "machine": {
            "node": platform.node(),
            "cpu": cpu_name(),
            "usable_cores": usable_cores(),
        },
        "load_note": args.note,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "wall_seconds": time.perf_counter() - started,
        "rounds": args.rounds,
        "steps": args.steps,
        "rows": rows,
    }
    runs = []
    if args.append and Path(args.out).is_file():
        runs = json.loads(Path(args.out).read_text())["runs"]
    atomic_write_json(args.out, {"runs": [*runs, run]})
    print(f"wrote {args.out} ({run['wall_seconds']:.0f} s)")
    return 0


def measure_cell(
    cell: dict[str, Any],
    shape: tuple[int, int, int],
    settings: list[tuple[str, int]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Median step seconds of every setting of one cell, interleaved over rounds.

    A setting whose warm-up step takes over ``args.cap`` seconds is recorded by that step
    alone in that round (pathologically slow under contention: enough to show it).
    """
    steps = {f: make_step(cell, shape, f == "channels_last") for f in FORMATS}
    samples: dict[tuple[str, int], list[float]] = {s: [] for s in settings}
    for r in range(args.rounds):
        shift = r % len(settings)
        for fmt, threads in settings[shift:] + settings[:shift]:
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            steps[fmt](r, -1)  # warm-up: thread pool, allocator, oneDNN primitives
            warm_up = time.perf_counter() - t0
            if warm_up > args.cap:  # pathologically slow (contention): enough to show it
                samples[fmt, threads].append(warm_up)
                continue
            for i in range(args.steps):
                t0 = time.perf_counter()
                steps[fmt](r, i)
                samples[fmt, threads].append(time.perf_counter() - t0)
    base = statistics.median(samples[settings[0]])
    return [
        {
            **cell,
            "format": fmt,
            "threads": threads,
            "median_seconds": statistics.median(samples[fmt, threads]),
            "ratio": statistics.median(samples[fmt, threads]) / base,
            "samples": samples[fmt, threads],
        }
        for fmt, threads in settings
    ]


def make_step(
    cell: dict[str, Any], shape: tuple[int, int, int], channels_last: bool
) -> Callable[[int, int], object]:
    """A closure running one step of ``cell``: ``step(round, index)``.

    Every setting gets the same inputs and, for the supernet, the same subnets for the same
    ``(round, index)``.
    """
    space = create_space(cell["space"])
    recipe = Recipe(lr=0.01, channels_last=channels_last)
    generator = torch.Generator().manual_seed(0)
    kind, batch = cell["kind"], cell["batch"] or 1
    x = as_input(torch.randn(batch, *shape, generator=generator), recipe)
    y = torch.randint(0, NUM_CLASSES, (batch,), generator=generator)

    def subnets(r: int, i: int) -> list[Any]:
        rng = np.random.default_rng([r, i + 1])
        return [space.largest(), space.smallest(), space.sample(rng), space.sample(rng)]

    if kind in ("sandwich", "subnet_eval"):
        supernet = build_supernet(space, shape, NUM_CLASSES, seed=0)
        set_memory_format(supernet, channels_last=channels_last)
        if kind == "sandwich":
            optimizer = make_optimizer(supernet, recipe)
            supernet.train()
            return lambda r, i: sandwich_step(
                supernet, x, y, subnets(r, i), optimizer, recipe, distill=True
            )
        calibration = [
            as_input(torch.randn(128, *shape, generator=generator), recipe) for _ in range(4)
        ]
        val = Split(
            torch.randn(270, *shape, generator=generator),
            torch.randint(0, NUM_CLASSES, (270,), generator=generator),
        )
        return lambda r, i: evaluate_subnet(supernet, subnets(r, i)[2], val, calibration)
    arch = pick_arch(space, kind, shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(space, arch, shape, NUM_CLASSES)
    set_memory_format(model, channels_last=channels_last)
    optimizer = make_optimizer(model, recipe)
    model.train()
    return lambda r, i: train_step(model, x, y, optimizer, recipe)


def pick_arch(space: Any, kind: str, shape: tuple[int, int, int]) -> Any:
    """The largest, smallest, or median-by-MACs of 41 random architectures."""
    if kind == "largest":
        return space.largest()
    if kind == "smallest":
        return space.smallest()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(41)]
    archs.sort(key=lambda a: count_costs_fast(space, a, shape, NUM_CLASSES).macs)
    return archs[len(archs) // 2]


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` where there is one."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_header(settings: list[tuple[str, int]]) -> None:
    """The table's header: the base setting's seconds, then every setting's ratio to it."""
    heads = [f"{'cl' if f == 'channels_last' else 'nchw'}/t{t}" for f, t in settings]
    cells = " ".join(f"{h:>8}" for h in heads)
    print(f"{'space':8} {'input':8} {'batch':>5} {'kind':12} {'base s':>8} {cells}", flush=True)


def print_row(group: list[dict[str, Any]]) -> None:
    """One cell's line of the table."""
    first = group[0]
    ratios = " ".join(f"{r['ratio']:8.2f}" for r in group)
    print(
        f"{first['space']:8} {first['input']:8} {first['batch'] or '-':>5} "
        f"{first['kind']:12} {first['median_seconds']:8.3f} {ratios}",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
