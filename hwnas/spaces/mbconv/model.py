"""Models of the ``mbconv`` space: stem, stages of MBConv blocks, head.

Strides adapt to the input so that one space serves 8x8 digits and 224x224 images alike
(:func:`hwnas.spaces.mbconv.arch.plan_strides`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from hwnas.nn.build import HwnasNet
from hwnas.spaces.base import make_divisible
from hwnas.spaces.mbconv.arch import MBConvArch, plan_strides, stage_channels

if TYPE_CHECKING:
    from hwnas.spaces.mbconv.space import MBConvSpace


def activation(name: str) -> nn.Module:
    """The activation module called ``name`` (``relu`` or ``hswish``)."""
    return nn.Hardswish() if name == "hswish" else nn.ReLU()


class ConvBNAct(nn.Sequential):
    """Conv (no bias) -> BN -> optional activation."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "relu",
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if act is not None:
            layers.append(activation(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation, MobileNetV3 style (ReLU, then hard sigmoid gate)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = make_divisible(channels / reduction)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(scale))))


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, kxk depthwise, optional SE, 1x1 project."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, expand: int, stride: int, act: str, se: bool
    ) -> None:
        super().__init__()
        mid = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(c_in, mid, 1, act=act))
        layers.append(ConvBNAct(mid, mid, kernel, stride, groups=mid, act=act))
        if se:
            layers.append(SqueezeExcite(mid))
        layers.append(ConvBNAct(mid, c_out, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class MBConvNet(HwnasNet):
    """A network of the ``mbconv`` space."""

    def __init__(
        self,
        space: MBConvSpace,
        arch: MBConvArch,
        input_shape: tuple[int, int, int],
        num_classes: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(arch, input_shape, num_classes)
        stem_stride, strides = plan_strides(space, input_shape[1], input_shape[2])
        self.stem = ConvBNAct(input_shape[0], space.stem_channels, 3, stem_stride, act="hswish")
        c_in = space.stem_channels
        blocks: list[nn.Module] = []
        for stage, base, stride in zip(arch.stages, space.stage_channels, strides, strict=True):
            c_out = stage_channels(stage, base)
            for i, block in enumerate(stage.blocks):
                blocks.append(
                    MBConvBlock(
                        c_in,
                        c_out,
                        block.kernel,
                        block.expand,
                        stride if i == 0 else 1,
                        stage.act,
                        stage.se,
                    )
                )
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBNAct(c_in, space.head_channels, 1, act="hswish")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(space.head_channels, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(torch.flatten(self.pool(x), 1)))


def init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
