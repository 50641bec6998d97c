"""Standalone training and evaluation: one standard recipe, deterministic for a seed.

The recipe is SGD (Nesterov momentum) or AdamW with a cosine learning-rate schedule after an
optional linear warm-up, optional label smoothing, and light augmentation (random shifts, and
horizontal flips for natural images). Training never reads the test split; only
:func:`train_arch` with ``evaluate_test=True`` (final reporting) does.

PyTorch's CPU convolutions, not the arithmetic of the networks, bound training time
(``benchmarks/train_step.py``): by default a model trains in ``channels_last`` memory
format, on ``Recipe.threads`` torch threads, then goes back to the contiguous format and the
caller's thread count, so that export and latency measurement (single-threaded) see a plain
model. Results are deterministic for a seed, a thread count and a memory format.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.data import Dataset, Split
from hwnas.errors import ConfigError
from hwnas.progress import maybe, progress_bar
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.validate import check_int

OPTIMIZERS = ("sgd", "adamw")
AUGMENTATIONS = ("none", "shift", "shift-flip")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained. Every field is validated on construction.

    Args:
        epochs: Passes over the training split.
        batch_size: Samples per step.
        optimizer: ``sgd`` (Nesterov momentum) or ``adamw``.
        lr: Peak learning rate.
        momentum: SGD momentum.
        weight_decay: Decoupled (AdamW) or L2 (SGD) weight decay.
        label_smoothing: Cross-entropy label smoothing in [0, 1).
        warmup_epochs: Epochs of linear warm-up before the cosine decay.
        augment: ``none``, ``shift`` (random translation by up to ``shift_pixels``) or
            ``shift-flip`` (plus random horizontal flips, for natural images).
        shift_pixels: Largest translation of the ``shift`` augmentations.
        threads: Torch CPU threads while training (the caller's count is restored
            afterwards); ``None``: every core this process may use (:func:`usable_cores`).
            Results are bit-identical only for the same count. One by default: more
            threads speed up large convolutions on an idle machine, but each small
            operation then waits for every thread, and on a busy machine steps took
            2-200x longer (``benchmarks/results/train_step.json``).
        channels_last: Train in ``channels_last`` memory format (faster convolutions on
            CPU; same results up to float rounding); the model is given back contiguous.
    """

    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_epochs: int = 1
    augment: str = "shift"
    shift_pixels: int = 1
    threads: int | None = 1
    channels_last: bool = True

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, 1)
        if self.threads is not None:
            check_int("threads", self.threads, 1)
        if not isinstance(self.channels_last, bool):
            raise ConfigError("channels_last", "true or false", self.channels_last)
        check_int("batch_size", self.batch_size, 1)
        check_int("warmup_epochs", self.warmup_epochs, 0)
        check_int("shift_pixels", self.shift_pixels, 0)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError("optimizer", f"one of {', '.join(OPTIMIZERS)}", self.optimizer)
        if self.augment not in AUGMENTATIONS:
            raise ConfigError("augment", f"one of {', '.join(AUGMENTATIONS)}", self.augment)
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError("lr", "a positive number", self.lr)
        if not 0 <= self.momentum < 1:
            raise ConfigError("momentum", "a number in [0, 1)", self.momentum)
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError("weight_decay", "a number >= 0", self.weight_decay)
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError("label_smoothing", "a number in [0, 1)", self.label_smoothing)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a JSON-able dict (``Recipe(**d)`` rebuilds it)."""
        return asdict(self)


@dataclass
class TrainResult:
    """What a training run measured (``threads``: the torch threads it trained with)."""

    val_accuracy: float
    val_loss: float
    train_loss: float
    seconds: float
    epochs: int
    test_accuracy: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the result."""
        return asdict(self)


def evaluate(model: nn.Module, split: Split, batch_size: int = 512) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` (in eval mode) on ``split``."""
    was_training = model.training
    model.eval()
    correct = 0
    loss = 0.0
    with torch.inference_mode():
        for start in range(0, len(split), batch_size):
            x = split.x[start : start + batch_size]
            y = split.y[start : start + batch_size]
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    model.train(was_training)
    n = max(1, len(split))
    return correct / n, loss / n


def augment_batch(
    x: torch.Tensor, mode: str, shift_pixels: int, generator: torch.Generator
) -> torch.Tensor:
    """Randomly shifted (and for ``shift-flip`` flipped) copy of a batch of images; a
    batch of token ids ``(N, L)`` is returned as it is (no augmentation for text yet)."""
    if mode == "none" or (shift_pixels == 0 and mode == "shift") or x.dim() != 4:
        return x
    n, _, h, w = x.shape
    if shift_pixels > 0:
        p = shift_pixels
        padded = F.pad(x, (p, p, p, p))
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
        batch = torch.arange(n)[:, None, None, None]
        channels = torch.arange(x.shape[1])[None, :, None, None]
        x = padded[batch, channels, rows, cols]
    if mode == "shift-flip":
        flip = torch.rand(n, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def train_model(
    model: nn.Module,
    dataset: Dataset,
    recipe: Recipe | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
    description: str = "training",
) -> TrainResult:
    """Train ``model`` in place on ``dataset.train`` and evaluate it on ``dataset.val``.

    Args:
        model: A freshly built model (see :func:`hwnas.nn.build_model`).
        dataset: The dataset; its test split is not read.
        recipe: The training recipe (defaults to :class:`Recipe`'s defaults).
        seed: Seeds the batch order, augmentation and dropout (the global torch random state
            is restored afterwards).
        progress: Show a progress bar on stderr.
        description: The progress bar's label.

    Returns:
        Validation accuracy and loss, final training loss, wall time and a per-epoch history.
    """
    recipe = recipe or Recipe()
    generator = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model, recipe)
    n = len(dataset.train)
    steps_per_epoch = max(1, math.ceil(n / recipe.batch_size))
    total_steps = steps_per_epoch * recipe.epochs
    warmup_steps = steps_per_epoch * min(recipe.warmup_epochs, recipe.epochs - 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup_steps, total_steps)
    )
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    bar = progress_bar(progress)
    train_loss = float("nan")
    # Dropout draws from the global generator: fork it so that training is deterministic for
    # ``seed`` and leaves the caller's random state alone.
    with (
        torch.random.fork_rng(devices=[]),
        maybe(bar),
        training_setup(model, recipe) as threads,
    ):
        torch.manual_seed(seed)
        task = bar.add_task(description, total=recipe.epochs) if bar is not None else None
        for epoch in range(recipe.epochs):
            model.train()
            order = torch.randperm(n, generator=generator)
            total_loss = 0.0
            for start in range(0, n, recipe.batch_size):
                index = order[start : start + recipe.batch_size]
                x = augment_batch(
                    dataset.train.x[index], recipe.augment, recipe.shift_pixels, generator
                )
                loss = train_step(
                    model, as_input(x, recipe), dataset.train.y[index], optimizer, recipe
                )
                schedule.step()
                total_loss += loss * len(index)
            train_loss = total_loss / n
            val_accuracy, val_loss = evaluate(model, dataset.val)
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "val_accuracy": val_accuracy,
                }
            )
            if bar is not None and task is not None:
                bar.update(task, advance=1, description=f"{description} val_acc={val_accuracy:.4f}")
        val_accuracy, val_loss = evaluate(model, dataset.val)
    return TrainResult(
        val_accuracy=val_accuracy,
        val_loss=val_loss,
        train_loss=train_loss,
        seconds=time.perf_counter() - started,
        epochs=recipe.epochs,
        history=history,
        threads=threads,
    )


def train_arch(
    space: SearchSpace,
    arch: Arch,
    dataset: Dataset,
    recipe: Recipe | None = None,
    *,
    seed: int = 0,
    evaluate_test: bool = False,
    progress: bool = False,
) -> tuple[nn.Module, TrainResult]:
    """Build ``arch`` with weights initialised from ``seed``, train it, and evaluate it.

    Args:
        space: The search space of ``arch``.
        arch: The architecture to train.
        dataset: The dataset (input shape and classes come from it).
        recipe: The training recipe.
        seed: Seeds weight initialisation, batch order and augmentation. The global torch
            random state is left as it was.
        evaluate_test: Also measure test accuracy: for final reporting only.
        progress: Show a progress bar on stderr.

    Returns:
        The trained model (eval mode) and its :class:`TrainResult`.
    """
    from hwnas.nn import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(space, arch, dataset.input_shape, dataset.num_classes)
    result = train_model(
        model, dataset, recipe, seed=seed, progress=progress, description=f"{space.name}"
    )
    if evaluate_test:
        result.test_accuracy, _ = evaluate(model, dataset.test)
    model.eval()
    return model, result


def usable_cores() -> int:
    """The number of CPU cores this process may run on (its affinity mask where there is one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (``None``: leave them as they are),
    restoring the previous count afterwards."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads is not None:
            torch.set_num_threads(previous)


@contextmanager
def training_setup(model: nn.Module, recipe: Recipe) -> Iterator[int]:
    """Run the block with the recipe's thread count and memory format.

    Sets ``recipe.threads`` torch threads (``None``: :func:`usable_cores`) and, with
    ``recipe.channels_last``, converts ``model`` in place to that memory format. Afterwards,
    even on error, the caller's thread count is restored and the model is contiguous again:
    latency is measured single-threaded and export expects a plain model.

    Yields:
        The thread count in use.
    """
    threads = usable_cores() if recipe.threads is None else recipe.threads
    with torch_threads(threads):
        try:
            if recipe.channels_last:
                set_memory_format(model, channels_last=True)
            yield threads
        finally:
            if recipe.channels_last:
                set_memory_format(model, channels_last=False)


def set_memory_format(model: nn.Module, *, channels_last: bool) -> nn.Module:
    """Convert the 4-d weights of ``model`` in place to ``channels_last`` or contiguous."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    # Documented, but missing from torch's type stubs.
    return model.to(memory_format=fmt)  # type: ignore[call-overload,no-any-return]


def as_input(x: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """A batch of images in the memory format the recipe trains in (token ids as they are)."""
    image = x.dim() == 4
    return x.contiguous(memory_format=torch.channels_last) if recipe.channels_last and image else x


def train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    recipe: Recipe,
) -> float:
    """One optimizer step of ``model`` on the batch ``(x, y)``; returns its loss."""
    loss = F.cross_entropy(model(x), y, label_smoothing=recipe.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    # No weight decay on biases and normalisation parameters (1-d tensors).
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups: Sequence[dict[str, Any]] = [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr)
    return torch.optim.SGD(
        groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.momentum > 0
    )
