"""GDAS-style relaxation over a weight-sliced supernet, trained by alternating updates.

Each encoding dimension ``d`` has logits ``alpha_d``. A step draws one hard sample from
the Gumbel-softmax of every dimension; the supernet runs that single path (one path per
step, as the weight-sliced supernets require). The straight-through gate of the chosen
choice is ``1 + s - s.detach()`` (``s`` its soft probability): exactly 1 in value, so the
forward output is the plain subnet's, with the gradient of ``s`` behind it; the supernet
multiplies each decision's output by its gate (:meth:`hwnas.nn.supernet.Supernet.gate`).
First-order alternating updates: the weights on a training batch (the sampled path, no
gates), then the logits on a validation batch with cross-entropy plus the TF-NAS bilateral
latency term ``latency_weight * |E[lat] / target - 1|`` from :class:`LinearLatency`.

Collapse guard: early stopping (DARTS+ style). The logits stop moving once the most
likely architecture has stayed the same for ``patience`` epochs, before a long run can
drift into parameter-free choices; the latency term alone decides how cheap it goes.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hwnas.data import Dataset
from hwnas.errors import ConfigError
from hwnas.nn.supernet import Supernet, TrainedSupernet, build_supernet, load_supernet
from hwnas.spaces.base import SearchSpace
from hwnas.strategies.differentiable.latency import LinearLatency
from hwnas.train import Recipe, as_input, augment_batch, make_optimizer, training_setup


@dataclass(frozen=True)
class Settings:
    """How the relaxation trains (the strategy's options, checked there)."""

    epochs: int
    batch_size: int
    lr: float
    arch_lr: float
    latency_weight: float
    tau_max: float
    tau_min: float
    patience: int
    threads: int


@dataclass
class TargetResult:
    """What one latency target's search learned."""

    logits: list[np.ndarray]
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def log_probs(self) -> list[np.ndarray]:
        """Per encoding dimension, the log-probability of each choice."""
        return [a - np.logaddexp.reduce(a) for a in self.logits]

    @property
    def argmax(self) -> tuple[int, ...]:
        """The most likely encoding."""
        return tuple(int(np.argmax(a)) for a in self.logits)


def prepare_supernet(
    space: SearchSpace,
    dataset: Dataset,
    given: Any,
    warmup_epochs: int,
    settings: Settings,
    seed: int,
) -> Supernet:
    """A supernet to search on: a copy of ``given`` (a trained supernet, its folder or a
    :class:`TrainedSupernet`), or a new one with ``warmup_epochs`` of sandwich training.

    Raises:
        ConfigError: The space's supernet carries no gates, or ``given`` is no supernet.
    """
    if given is None:
        from hwnas.nn.supernet import train_supernet

        supernet = build_supernet(space, dataset.input_shape, dataset.num_classes, seed=seed)
        if warmup_epochs > 0:
            recipe = Recipe(
                epochs=warmup_epochs,
                batch_size=settings.batch_size,
                lr=settings.lr,
                threads=settings.threads,
            )
            train_supernet(supernet, dataset, recipe, seed=seed, num_random=1)
    else:
        if isinstance(given, str | os.PathLike):
            given = load_supernet(given)
        if isinstance(given, TrainedSupernet):
            given = given.supernet
        if not isinstance(given, Supernet):
            raise ConfigError("context.supernet", "a Supernet, TrainedSupernet or folder", given)
        supernet = copy.deepcopy(given)  # the evaluator keeps its weights
    if not supernet.gated:
        raise ConfigError(
            "strategy", f"a space whose supernet carries gates for {space.name!r}", "differentiable"
        )
    if supernet.space.fingerprint() != space.fingerprint():
        raise ConfigError(
            "context.supernet", f"a supernet of the searched {space!r}", supernet.space
        )
    return supernet


def hard_gumbel(
    logits: list[torch.Tensor], tau: float, generator: torch.Generator
) -> tuple[tuple[int, ...], torch.Tensor]:
    """One hard Gumbel-softmax sample per dimension: the chosen indices and their
    straight-through gates (each exactly 1 in value)."""
    indices, gates = [], []
    for alpha in logits:
        u = torch.rand(alpha.shape, generator=generator).clamp_(1e-9, 1 - 1e-9)
        soft = F.softmax((alpha - torch.log(-torch.log(u))) / tau, dim=0)
        index = int(torch.argmax(soft))
        indices.append(index)
        gates.append(1.0 + (soft[index] - soft[index].detach()))
    return tuple(indices), torch.stack(gates)


def search_target(
    supernet: Supernet,
    dataset: Dataset,
    latency: LinearLatency,
    target_ms: float,
    settings: Settings,
    seed: int,
) -> TargetResult:
    """Learn the choice logits for ``target_ms`` (the supernet's weights train too: pass
    a copy when they matter). Deterministic for ``seed``, a thread count and the inputs."""
    space = supernet.space
    recipe = Recipe(
        epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
        threads=settings.threads,
    )  # fmt: skip
    train, val = dataset.train, dataset.val
    with torch.random.fork_rng(devices=[]), training_setup(supernet, recipe):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        logits = [torch.zeros(n, requires_grad=True) for n in space.n_choices]
        weights = make_optimizer(supernet, recipe)
        arch = torch.optim.Adam(logits, lr=settings.arch_lr, betas=(0.5, 0.999))
        costs = [torch.as_tensor(w, dtype=torch.float32) for w in latency.weights_]
        history: list[dict[str, float]] = []
        best, stable, epochs = None, 0, 0
        steps = max(1, -(-len(train) // settings.batch_size))
        for epoch in range(settings.epochs):
            share = epoch / max(1, settings.epochs - 1)
            tau = settings.tau_max * (settings.tau_min / settings.tau_max) ** share
            order = torch.randperm(len(train), generator=generator)
            val_order = torch.randperm(len(val), generator=generator)
            totals = np.zeros(3)
            for step in range(steps):
                index = order[step * settings.batch_size : (step + 1) * settings.batch_size]
                start = (step * settings.batch_size) % len(val)
                val_index = val_order[start : start + settings.batch_size]
                encoding, gates = hard_gumbel(logits, tau, generator)
                path = space.decode(encoding)
                supernet.train()
                x = augment_batch(train.x[index], recipe.augment, recipe.shift_pixels, generator)
                loss = F.cross_entropy(
                    supernet(as_input(x, recipe), path), train.y[index],
                    label_smoothing=recipe.label_smoothing,
                )  # fmt: skip
                weights.zero_grad(set_to_none=True)
                loss.backward()
                weights.step()
                with supernet.gates(gates):
                    out = supernet(as_input(val.x[val_index], recipe), path)
                ce = F.cross_entropy(out, val.y[val_index])
                expected = (
                    latency.intercept_
                    + torch.stack(
                        [F.softmax(a, 0) @ c for a, c in zip(logits, costs, strict=True)]
                    ).sum()
                )
                lat_term = torch.abs(expected / target_ms - 1.0)
                arch.zero_grad(set_to_none=True)
                (ce + settings.latency_weight * lat_term).backward()
                arch.step()
                totals += [float(loss.detach()), float(ce.detach()), float(expected.detach())]
            epochs += 1
            current = tuple(int(torch.argmax(a)) for a in logits)
            mean = totals / steps
            history.append(
                {"epoch": epoch + 1, "train_loss": mean[0], "val_loss": mean[1],
                 "expected_ms": mean[2], "tau": tau},
            )  # fmt: skip
            stable = stable + 1 if current == best else 0
            best = current
            if stable >= settings.patience:
                break
        weights.zero_grad(set_to_none=True)
    return TargetResult([a.detach().numpy().astype(float) for a in logits], epochs, history)
