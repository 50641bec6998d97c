"""The official NAS-Bench-201 macro skeleton.

Stem (3x3 conv + BN), three stages of ``cells_per_stage`` cells with C, 2C, 4C channels
separated by residual reduction blocks, then BN-ReLU, global average pooling and a linear
classifier: the network the NAS-Bench-201 accuracies and costs were measured on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from hwnas.nn.build import HwnasNet
from hwnas.spaces.nb201.arch import EDGES, NB201Arch

if TYPE_CHECKING:
    from hwnas.spaces.nb201.space import NB201Space


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BN, the NAS-Bench-201 ``nor_conv`` operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` operation: an all-zero output of the input's shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(op: str, channels: int) -> nn.Module:
    """The module of one NAS-Bench-201 edge operation (stride 1, same channels)."""
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown nb201 op {op!r}")


class Cell(nn.Module):
    """A NAS-Bench-201 cell: node j is the sum over i < j of op(i -> j)(node i)."""

    def __init__(self, arch: NB201Arch, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, channels) for op in arch.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        k = 0
        for target in range(1, 4):
            total = None
            for source in range(target):
                assert EDGES[k] == (target, source)
                out = self.edges[k](nodes[source])
                total = out if total is None else total + out
                k += 1
            nodes.append(total)  # type: ignore[arg-type]
        return nodes[-1]


class ResidualReduction(nn.Module):
    """The residual block between stages: stride-2 conv pair plus avg-pool/1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(
            # ceil_mode keeps odd sizes aligned with conv_a; identical to the paper for even ones.
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=True),
            nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def nb201_skeleton(
    space: NB201Space,
    input_shape: tuple[int, int, int],
    num_classes: int,
    cell: Callable[[int], nn.Module],
) -> tuple[nn.Module, list[nn.Module], nn.Module, nn.Module, nn.Module]:
    """The NAS-Bench-201 macro skeleton around ``cell(channels)``: the stem, the stages'
    cells with a residual reduction between stages, the last activation, the pooling and
    the classifier (built in this order, so that a seed gives the same weights)."""
    c = space.channels
    stem = nn.Sequential(
        nn.Conv2d(input_shape[0], c[0], 3, padding=1, bias=False), nn.BatchNorm2d(c[0])
    )
    layers: list[nn.Module] = []
    for stage, channels in enumerate(c):
        if stage > 0:
            layers.append(ResidualReduction(c[stage - 1], channels))
        layers += [cell(channels) for _ in range(space.cells_per_stage)]
    lastact = nn.Sequential(nn.BatchNorm2d(c[-1]), nn.ReLU())
    return stem, layers, lastact, nn.AdaptiveAvgPool2d(1), nn.Linear(c[-1], num_classes)


class NB201Net(HwnasNet):
    """The NAS-Bench-201 network of one cell architecture."""

    def __init__(
        self,
        space: NB201Space,
        arch: NB201Arch,
        input_shape: tuple[int, int, int],
        num_classes: int,
    ) -> None:
        super().__init__(arch, input_shape, num_classes)
        parts = nb201_skeleton(space, input_shape, num_classes, lambda c: Cell(arch, c))
        stem, layers, lastact, pool, classifier = parts
        self.stem, self.cells = stem, nn.Sequential(*layers)  # registered in the original order
        self.lastact, self.pool, self.classifier = lastact, pool, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))
