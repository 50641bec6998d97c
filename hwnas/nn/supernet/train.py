"""Supernet training with the sandwich rule, in-place distillation and exact resumption.

Every step runs the same (augmented) batch through the largest subnet, the smallest and
``num_random`` uniformly sampled ones, accumulating their gradients before one optimizer
step. The largest learns from the labels; with ``distill`` the others learn from its soft
predictions (KL divergence), as in Once-for-All and BigNAS, otherwise from the labels too.

Batch order, augmentation and dropout derive from ``seed`` through generators whose states
go into the checkpoint; the random subnets of step ``s`` of epoch ``e`` derive from
``(seed, e, s)``. A run killed after any epoch and started again with the same folder
therefore ends with exactly the weights of an uninterrupted run (same thread count and
memory format). Training runs on ``recipe.threads`` torch threads in ``channels_last`` format
when the recipe says so (see :func:`hwnas.train.training_setup`); both may change between a
run and its resumption.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hwnas.data import Dataset
from hwnas.errors import ConfigError
from hwnas.io import atomic_write_json
from hwnas.nn.supernet.base import Supernet
from hwnas.nn.supernet.evaluate import Calibration, evaluate_subnet
from hwnas.nn.supernet.store import (
    CHECKPOINT,
    FORMAT,
    INFO,
    WEIGHTS,
    load_torch,
    save_torch,
    weights_sha256,
)
from hwnas.progress import maybe, progress_bar
from hwnas.spaces.base import Arch
from hwnas.train import (
    Recipe,
    as_input,
    augment_batch,
    lr_factor,
    make_optimizer,
    training_setup,
)

# Recipe fields that say how training runs, not what it learns.
EXECUTION = ("threads", "channels_last")


@dataclass
class SupernetTrainResult:
    """What a (possibly partial) supernet training run did.

    Attributes:
        epochs_done: Epochs completed so far (this run and the ones it resumed).
        epochs: Epochs the recipe asks for.
        seconds: Training wall time over all runs.
        history: Per epoch: mean loss of the largest subnet, mean summed loss of all
            subnets, wall seconds and process CPU seconds.
        weights_sha256: SHA-256 of the weights (:func:`~hwnas.nn.supernet.store.weights_sha256`).
        subnets: Val ``accuracy`` / ``loss`` of the largest and smallest subnets (after
            batch-norm recalibration), measured once training is complete.
    """

    epochs_done: int
    epochs: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    weights_sha256: str = ""
    subnets: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every epoch of the recipe is done."""
        return self.epochs_done >= self.epochs

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {**asdict(self), "complete": self.complete}


def train_supernet(
    supernet: Supernet,
    dataset: Dataset,
    recipe: Recipe | None = None,
    *,
    seed: int = 0,
    num_random: int = 2,
    distill: bool = True,
    out_dir: str | os.PathLike[str] | None = None,
    stop_after: int | None = None,
    progress: bool = False,
    extra_info: dict[str, Any] | None = None,
) -> SupernetTrainResult:
    """Train ``supernet`` in place with the sandwich rule on ``dataset.train``.

    Args:
        supernet: A freshly built supernet (:func:`~hwnas.nn.supernet.build_supernet`).
        dataset: The dataset; its test split is not read.
        recipe: Optimiser, schedule, batch size, epochs, augmentation, threads and memory
            format (as for standalone training; defaults to :class:`~hwnas.train.Recipe`'s
            defaults). The caller's thread count is restored and the supernet is contiguous
            again afterwards.
        seed: Seeds batch order, augmentation, dropout and the sampled subnets.
        num_random: Random subnets per step besides the largest and the smallest.
        distill: Train all but the largest on the largest's soft predictions.
        out_dir: Folder for ``checkpoint.pt`` (every epoch), and once training is complete,
            ``weights.pt`` and ``supernet.json``. An existing checkpoint there is resumed
            (its settings must match).
        stop_after: Return once this many epochs are done in total (a time-sliced run;
            calling again with the same ``out_dir`` resumes).
        progress: Show a progress bar on stderr.
        extra_info: JSON-able fields merged into ``supernet.json`` (e.g. how to reload the
            dataset: ``{"dataset": {"spec": ..., "seed": ...}}``).

    Returns:
        The epochs done, history, weight hash and (when complete) largest / smallest
        subnet accuracies.

    Raises:
        ConfigError: An argument is invalid or the checkpoint in ``out_dir`` was written
            with other settings.
    """
    recipe = recipe or Recipe()
    _check_args(seed, num_random, stop_after)
    settings = _settings(supernet, dataset, recipe, seed, num_random, distill)
    folder = None if out_dir is None else Path(out_dir)
    generator = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(supernet, recipe)
    steps_per_epoch = max(1, math.ceil(len(dataset.train) / recipe.batch_size))
    total_steps = steps_per_epoch * recipe.epochs
    warmup_steps = steps_per_epoch * min(recipe.warmup_epochs, recipe.epochs - 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup_steps, total_steps)
    )
    state: dict[str, Any] = {"epoch": 0, "seconds": 0.0, "history": []}
    torch_rng: torch.Tensor | None = None
    if folder is not None and (folder / CHECKPOINT).exists():
        checkpoint = _load_checkpoint(folder / CHECKPOINT, settings)
        supernet.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        schedule.load_state_dict(checkpoint["scheduler"])
        generator.set_state(checkpoint["generator"])
        torch_rng = checkpoint["torch_rng"]
        state = {k: checkpoint[k] for k in ("epoch", "seconds", "history")}
    last = recipe.epochs if stop_after is None else min(recipe.epochs, stop_after)
    bar = progress_bar(progress)
    # Dropout draws from the global generator: fork it (seeded, or restored from the
    # checkpoint) so that training is reproducible and the caller's state is left alone.
    # Threads and memory format apply to training only (see hwnas.train.training_setup).
    with (
        torch.random.fork_rng(devices=[]),
        maybe(bar),
        training_setup(supernet, recipe) as threads,
    ):
        if torch_rng is None:
            torch.manual_seed(seed)
        else:
            torch.set_rng_state(torch_rng)
        task = None
        if bar is not None:
            task = bar.add_task("supernet", total=recipe.epochs * steps_per_epoch)
            bar.update(task, completed=state["epoch"] * steps_per_epoch)
        while state["epoch"] < last:
            started, cpu = time.perf_counter(), time.process_time()
            losses = _train_epoch(
                supernet, dataset, recipe, optimizer, schedule, generator, state["epoch"],
                seed, num_random, distill, bar, task,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            state["epoch"] += 1
            state["seconds"] += seconds
            state["history"].append(
                {
                    "epoch": state["epoch"],
                    **losses,
                    "seconds": seconds,
                    "cpu_seconds": time.process_time() - cpu,
                    "threads": threads,
                }
            )
            if folder is not None:
                checkpoint = {
                    "format": FORMAT,
                    "settings": settings,
                    "model": supernet.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": schedule.state_dict(),
                    "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    **state,
                }
                save_torch(folder / CHECKPOINT, checkpoint)
    supernet.eval()
    result = SupernetTrainResult(
        epochs_done=state["epoch"],
        epochs=recipe.epochs,
        seconds=state["seconds"],
        history=list(state["history"]),
        weights_sha256=weights_sha256(supernet.state_dict()),
    )
    if result.complete:
        batches = Calibration().select(dataset.train)
        space = supernet.space
        for name, arch in (("largest", space.largest()), ("smallest", space.smallest())):
            accuracy, loss = evaluate_subnet(supernet, arch, dataset.val, batches)
            result.subnets[name] = {"accuracy": accuracy, "loss": loss}
    if folder is not None:
        info = {**settings, "recipe": recipe.to_dict()}  # with threads and memory format
        _write_outputs(folder, supernet, dataset, info, result, extra_info or {})
    return result


def _train_epoch(
    supernet: Supernet,
    dataset: Dataset,
    recipe: Recipe,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    epoch: int,
    seed: int,
    num_random: int,
    distill: bool,
    bar: Any,
    task: Any,
) -> dict[str, float]:
    """One epoch of sandwich steps; returns the mean losses."""
    space = supernet.space
    largest, smallest = space.largest(), space.smallest()
    supernet.train()
    n = len(dataset.train)
    order = torch.randperm(n, generator=generator)
    total_largest = total_all = 0.0
    for step, start in enumerate(range(0, n, recipe.batch_size)):
        index = order[start : start + recipe.batch_size]
        x = augment_batch(dataset.train.x[index], recipe.augment, recipe.shift_pixels, generator)
        rng = np.random.default_rng([seed, epoch, step])
        archs: list[Arch] = [largest, smallest] + [space.sample(rng) for _ in range(num_random)]
        loss_largest, step_loss = sandwich_step(
            supernet, as_input(x, recipe), dataset.train.y[index], archs, optimizer, recipe,
            distill,
        )  # fmt: skip
        schedule.step()
        total_largest += loss_largest * len(index)
        total_all += step_loss * len(index)
        if bar is not None:
            label = f"supernet epoch {epoch + 1} loss={step_loss:.3f}"
            bar.update(task, advance=1, description=label)
    return {"loss_largest": total_largest / n, "loss": total_all / n}


def sandwich_step(
    supernet: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    archs: list[Arch],
    optimizer: torch.optim.Optimizer,
    recipe: Recipe,
    distill: bool,
) -> tuple[float, float]:
    """One optimizer step over the subnets ``archs`` (the largest first) on ``(x, y)``.

    Gradients of every subnet accumulate before the step. The first subnet learns from the
    labels; with ``distill`` the others learn from its soft predictions.

    Returns:
        The first subnet's loss and the sum of all the subnets' losses.
    """
    optimizer.zero_grad(set_to_none=True)
    soft: torch.Tensor | None = None
    first = total = 0.0
    for arch in archs:
        logits = supernet(x, arch)
        if soft is None or not distill:
            loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
        else:
            loss = F.kl_div(F.log_softmax(logits, 1), soft, reduction="batchmean")
        if soft is None:
            soft = logits.detach().softmax(1)
            first = float(loss.detach())
        loss.backward()
        total += float(loss.detach())
    optimizer.step()
    return first, total


def _settings(
    supernet: Supernet,
    dataset: Dataset,
    recipe: Recipe,
    seed: int,
    num_random: int,
    distill: bool,
) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed."""
    return {
        "space": supernet.space.name,
        "space_config": supernet.space.config(),
        "space_fingerprint": supernet.space.fingerprint(),
        "input_shape": list(supernet.input_shape),
        "num_classes": supernet.num_classes,
        "dataset_fingerprint": dataset.fingerprint,
        # How the arithmetic runs (threads, memory format) may change between a run and its
        # resumption (another machine, say); what is learned may not.
        "recipe": {k: v for k, v in recipe.to_dict().items() if k not in EXECUTION},
        "seed": seed,
        "num_random": num_random,
        "distill": distill,
    }


def _load_checkpoint(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    checkpoint = load_torch(path)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ConfigError("out_dir", f"a folder holding an hwnas supernet checkpoint ({path})")
    for key, value in settings.items():
        saved = checkpoint["settings"].get(key)
        if saved != value:
            raise ConfigError(
                key,
                f"{saved!r} as in the checkpoint {path} (resume with the same settings, or "
                "use another output folder)",
                value,
            )
    return checkpoint


def _write_outputs(
    folder: Path,
    supernet: Supernet,
    dataset: Dataset,
    settings: dict[str, Any],
    result: SupernetTrainResult,
    extra: dict[str, Any],
) -> None:
    from hwnas import __version__

    data = {"name": dataset.name, "fingerprint": dataset.fingerprint, **extra.get("dataset", {})}
    info: dict[str, Any] = {
        "format": FORMAT,
        **{k: v for k, v in settings.items() if k != "dataset_fingerprint"},
        **{k: v for k, v in extra.items() if k != "dataset"},
        "dataset": data,
        "epochs": result.epochs,
        "epochs_done": result.epochs_done,
        "complete": result.complete,
        "weights": WEIGHTS if result.complete else None,
        "weights_sha256": result.weights_sha256 if result.complete else None,
        "subnets": result.subnets,
        "seconds": result.seconds,
        "threads": result.history[-1].get("threads") if result.history else None,
        "history": result.history,
        "hwnas": __version__,
    }
    if result.complete:
        save_torch(folder / WEIGHTS, supernet.state_dict())
    atomic_write_json(folder / INFO, info)


def _check_args(seed: object, num_random: object, stop_after: object) -> None:
    for name, value, minimum in (("seed", seed, 0), ("num_random", num_random, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(name, f"an integer >= {minimum}", value)
    if stop_after is not None and (
        isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 1
    ):
        raise ConfigError("stop_after", "None or an integer >= 1", stop_after)
