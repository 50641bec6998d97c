"""``build_model``: the one entry point from an architecture to a PyTorch model."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from hwnas.spaces.base import Arch, SearchSpace, check_input_shape

__all__ = ["HwnasNet", "build_model", "check_input_shape", "recalibrate_batchnorm"]


class HwnasNet(nn.Module):
    """Base of every model hwnas builds: a classifier with a known input shape.

    Attributes:
        arch: The architecture the model was built from.
        input_shape: ``(channels, height, width)`` of one input.
        num_classes: The number of output logits.
    """

    def __init__(self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        self.arch = arch
        self.input_shape = input_shape
        self.num_classes = num_classes

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """A zero tensor of the model's input shape."""
        return torch.zeros(batch_size, *self.input_shape)


def build_model(
    space: SearchSpace, arch: Arch, input_shape: Sequence[int], num_classes: int
) -> HwnasNet:
    """Build ``arch`` of ``space`` as a freshly initialised model.

    Args:
        space: The search space ``arch`` belongs to (its configuration sets channel counts).
        arch: The architecture.
        input_shape: ``(C, H, W)`` of one input sample.
        num_classes: Number of classes (output logits).

    Returns:
        An :class:`HwnasNet` taking ``(N, C, H, W)`` float tensors and returning logits.
    """
    shape = check_input_shape(input_shape, num_classes)
    return space.build(space.check_arch(arch), shape, int(num_classes))


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
