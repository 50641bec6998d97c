"""Models of the ``convnet`` space: stem, up to four stages of plain / basic / MBConv blocks,
head.

The inverted residual and conv-BN-act layers are ``mbconv``'s (with ReLU, no
squeeze-excite), so the two spaces build the same block the same way.
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.nn.build import HwnasNet
from hwnas.spaces.convnet.arch import ConvNetArch, Stage, plan_strides
from hwnas.spaces.mbconv.model import ConvBNAct, MBConvBlock, init_weights


class BasicBlock(nn.Module):
    """ResNet's basic block: two k x k conv-BN (ReLU between), plus the input (through a
    1x1 conv-BN projection when the shape changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel, stride, pad, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, kernel, 1, pad, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def make_block(stage: Stage, c_in: int, stride: int) -> nn.Module:
    """One block of ``stage`` taking ``c_in`` channels, with ``stride``."""
    if stage.block == "plain":
        return ConvBNAct(c_in, stage.channels, stage.kernel, stride, act="relu")
    if stage.block == "basic":
        return BasicBlock(c_in, stage.channels, stage.kernel, stride)
    return MBConvBlock(c_in, stage.channels, stage.kernel, stage.expand, stride, "relu", False)


class ConvNetNet(HwnasNet):
    """A network of the ``convnet`` space.

    Attributes:
        stem: Conv-BN-ReLU.
        blocks: Every block of every present stage, in order.
        head: The 1x1 conv-BN-ReLU of the head (``None`` without one).
        hidden: The hidden fully connected layer (``None`` without one), ReLU after it.
        classifier: The last linear layer.
    """

    def __init__(
        self, arch: ConvNetArch, input_shape: tuple[int, int, int], num_classes: int
    ) -> None:
        super().__init__(arch, input_shape, num_classes)
        stem_stride, strides = plan_strides(arch, input_shape[1], input_shape[2])
        stem = arch.stem
        self.stem = ConvBNAct(input_shape[0], stem.channels, stem.kernel, stem_stride, act="relu")
        c_in = stem.channels
        blocks: list[nn.Module] = []
        for stage, stride in zip(arch.present, strides, strict=True):
            for i in range(stage.depth):
                blocks.append(make_block(stage, c_in, stride if i == 0 else 1))
                c_in = stage.channels
        self.blocks = nn.Sequential(*blocks)
        self.head: ConvBNAct | None = None
        if arch.head.conv:
            self.head = ConvBNAct(c_in, arch.head.conv, 1, act="relu")
            c_in = arch.head.conv
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.hidden: nn.Linear | None = None
        if arch.head.fc:
            self.hidden = nn.Linear(c_in, arch.head.fc)
            c_in = arch.head.fc
        self.classifier = nn.Linear(c_in, num_classes)
        init_weights(self)
        init_hidden(self.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        if self.head is not None:
            x = self.head(x)
        x = torch.flatten(self.pool(x), 1)
        if self.hidden is not None:
            x = torch.relu(self.hidden(x))
        return self.classifier(x)


def init_hidden(layer: nn.Linear | None) -> None:
    """He initialisation for a hidden ReLU layer (``init_weights`` gives every linear layer
    the classifier's small normal weights, which would all but switch it off)."""
    if layer is not None:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
