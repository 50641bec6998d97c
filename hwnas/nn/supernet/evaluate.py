"""Subnet evaluation with inherited weights and batch-norm recalibration.

Running statistics of a supernet's batch norms mix every subnet trained through them, so
before a subnet is measured they are re-estimated on a few training batches
(:func:`hwnas.nn.recalibrate_batchnorm`). The batches are fixed by a seed, so every
architecture is calibrated on the same images and a result depends only on the
architecture, the weights and the calibration settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from hwnas.data import Split
from hwnas.errors import ConfigError
from hwnas.nn.build import recalibrate_batchnorm
from hwnas.nn.supernet.base import Supernet
from hwnas.spaces.base import Arch
from hwnas.train import evaluate


@dataclass(frozen=True)
class Calibration:
    """Which training images re-estimate batch-norm statistics before evaluation.

    Args:
        batches: Number of batches.
        batch_size: Images per batch (fewer when the training split is smaller).
        seed: Picks the images (a fixed random subset of the training split).
    """

    batches: int = 4
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        for field, name, minimum in (
            ("batches", "calib_batches", 1),
            ("batch_size", "calib_batch_size", 2),
            ("seed", "seed", 0),
        ):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(name, f"an integer >= {minimum}", value)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict."""
        return asdict(self)

    def select(self, train: Split) -> list[torch.Tensor]:
        """The calibration batches drawn from ``train`` (no augmentation)."""
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(train), generator=generator)
        size = min(self.batch_size, len(train))
        starts = range(0, min(len(train), self.batches * size), size)
        return [train.x[order[s : s + size]] for s in starts]


def recalibrate_subnet(supernet: Supernet, arch: Arch, batches: list[torch.Tensor]) -> None:
    """Activate ``arch`` and re-estimate the batch-norm statistics it uses on ``batches``.

    The supernet is left in eval mode with ``arch`` active; the caller's global random
    state is unchanged.
    """
    supernet.set_active(arch)
    with torch.random.fork_rng(devices=[]):
        recalibrate_batchnorm(supernet, batches)


def evaluate_subnet(
    supernet: Supernet,
    arch: Arch,
    val: Split,
    batches: list[torch.Tensor],
) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``arch`` with inherited weights on ``val``.

    Batch-norm statistics are re-estimated on ``batches`` (see :meth:`Calibration.select`)
    first. The supernet is left as it was: active architecture, training mode and every
    batch-norm statistic are restored, so results never depend on earlier evaluations.

    Args:
        supernet: The (trained) supernet.
        arch: The architecture to measure.
        val: The split to measure on.
        batches: Calibration batches of training images.

    Returns:
        ``(accuracy, loss)`` on ``val``.
    """
    arch = supernet.check_arch(arch)
    norms = [m for m in supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [_bn_state(m) for m in norms]
    was_training, active = supernet.training, supernet.active
    try:
        recalibrate_subnet(supernet, arch, batches)
        return evaluate(supernet, val)
    finally:
        for m, state in zip(norms, saved, strict=True):
            _restore_bn(m, state)
        supernet.set_active(active)
        supernet.train(was_training)


def _bn_state(m: nn.modules.batchnorm._BatchNorm) -> list[torch.Tensor | None]:
    buffers = (m.running_mean, m.running_var, m.num_batches_tracked)
    return [None if b is None else b.clone() for b in buffers]


@torch.no_grad()
def _restore_bn(m: nn.modules.batchnorm._BatchNorm, state: list[torch.Tensor | None]) -> None:
    buffers = (m.running_mean, m.running_var, m.num_batches_tracked)
    for buffer, value in zip(buffers, state, strict=True):
        if buffer is not None and value is not None:
            buffer.copy_(value)
