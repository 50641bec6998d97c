"""``build_model``: the one entry point from an architecture to a PyTorch model."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import torch
from torch import nn

from hwnas.spaces.base import Arch, InputShape, SearchSpace, check_input_shape

__all__ = ["HwnasNet", "InputShape", "build_model", "check_input_shape", "recalibrate_batchnorm"]


class HwnasNet(nn.Module):
    """Base of every model hwnas builds: a classifier with a known input shape.

    Attributes:
        arch: The architecture the model was built from.
        input_shape: ``(channels, height, width)`` of one image, or ``(length,)`` of one
            sequence of token ids.
        num_classes: The number of output logits.
    """

    def __init__(self, arch: Arch, input_shape: InputShape, num_classes: int) -> None:
        super().__init__()
        self.arch = arch
        self.input_shape = input_shape
        self.num_classes = num_classes

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """Zeros of the model's input shape: a float32 image or int64 token ids."""
        from hwnas.data.inputs import example_input

        return example_input(self.input_shape, batch_size)


def build_model(
    space: SearchSpace, arch: Arch, input_shape: Sequence[int], num_classes: int
) -> HwnasNet:
    """Build ``arch`` of ``space`` as a freshly initialised model.

    Args:
        space: The search space ``arch`` belongs to (its configuration sets channel counts).
        arch: The architecture.
        input_shape: ``(C, H, W)`` of one image, or ``(L,)`` of one sequence of token ids
            (spaces that read token ids only; the image spaces take images).
        num_classes: Number of classes (output logits).

    Returns:
        An :class:`HwnasNet` taking ``(N, C, H, W)`` float tensors (or ``(N, L)`` int64
        token ids) and returning logits.
    """
    shape = check_input_shape(input_shape, num_classes, space)
    # SearchSpace.build still declares the image shape its image spaces take; the
    # transformer space also takes (L,) and declares so.
    return space.build(space.check_arch(arch), cast(tuple[int, int, int], shape), int(num_classes))


def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Reset batch-norm running statistics and re-estimate them on ``batches``.

    Statistics are exact averages over the batches (``momentum=None``); the model is left
    in eval mode. Used for subnets with inherited weights and to give untrained models
    realistic statistics before export checks.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for x in batches:
            model(x)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    return model.eval()
