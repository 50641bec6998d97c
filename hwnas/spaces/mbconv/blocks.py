"""The per-block latency table of ``mbconv`` (``hwnas profile --lut``), as Once-for-All and
FBNet measure it.

Every block choice (kernel, expand ratio, width, activation, squeeze-excite) is measured on
its own at every stage's input shape: the first block of a stage for every width of the
previous stage (its input channels) with the stage's stride, the later blocks at stride 1;
plus the stem and the head (1x1 convolution, pooling, classifier) for every width of the
last stage. :mod:`hwnas.profiling.lut` measures and stores the table for any space that
lists its blocks this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwnas.spaces.base import make_divisible
from hwnas.spaces.mbconv.arch import MBConvArch, plan_strides, stage_channels

if TYPE_CHECKING:
    from hwnas.spaces.mbconv.space import MBConvSpace


@dataclass(frozen=True)
class BlockSpec:
    """One separately measured part of an ``mbconv`` network.

    ``kind`` is ``stem``, ``block`` (an inverted residual) or ``head``; ``h`` and ``w`` are
    the input's spatial size.
    """

    kind: str
    c_in: int
    c_out: int
    h: int
    w: int
    stride: int = 1
    kernel: int = 3
    expand: int = 1
    act: str = "relu"
    se: bool = False

    @property
    def key(self) -> str:
        """A canonical string naming the block and its input (the table's key)."""
        where = f"{self.c_in}>{self.c_out}@{self.h}x{self.w}/{self.stride}"
        if self.kind == "block":
            se = "-se" if self.se else ""
            return f"block:{where}:k{self.kernel}e{self.expand}-{self.act}{se}"
        return f"{self.kind}:{where}"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the block's input."""
        return (self.c_in, self.h, self.w)

    def module(self, num_classes: int) -> Any:
        """The block as a stand-alone ``nn.Module`` (as the network builder makes it)."""
        from torch import nn

        from hwnas.spaces.mbconv.model import ConvBNAct, MBConvBlock

        if self.kind == "stem":
            return ConvBNAct(self.c_in, self.c_out, 3, self.stride, act="hswish")
        if self.kind == "head":
            return nn.Sequential(
                ConvBNAct(self.c_in, self.c_out, 1, act="hswish"),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(1),
                nn.Linear(self.c_out, num_classes),
            )
        return MBConvBlock(
            self.c_in, self.c_out, self.kernel, self.expand, self.stride, self.act, self.se
        )


def _geometry(
    space: MBConvSpace, shape: Sequence[int]
) -> tuple[int, list[int], list[tuple[int, int]]]:
    """Stem stride, stage strides and each stage's input size (fixed by the input alone)."""
    _, h, w = (int(v) for v in shape)
    stem_stride, strides = plan_strides(space, h, w)
    h, w = -(-h // stem_stride), -(-w // stem_stride)
    sizes = []
    for stride in strides:
        sizes.append((h, w))
        h, w = -(-h // stride), -(-w // stride)
    sizes.append((h, w))  # the head's input
    return stem_stride, strides, sizes


def arch_blocks(
    space: MBConvSpace, arch: MBConvArch, input_shape: Sequence[int]
) -> list[BlockSpec]:
    """The stem, blocks and head of ``arch`` as table entries."""
    stem_stride, strides, sizes = _geometry(space, input_shape)
    c, h0, w0 = (int(v) for v in input_shape)
    c_stem = space.stem_channels
    out = [BlockSpec("stem", c, c_stem, h0, w0, stem_stride)]
    c_in = c_stem
    for stage, base, stride, (h, w) in zip(
        arch.stages, space.stage_channels, strides, sizes, strict=False
    ):
        c_out = stage_channels(stage, base)
        for i, block in enumerate(stage.blocks):
            first = i == 0
            size = (h, w) if first else (-(-h // stride), -(-w // stride))
            out.append(
                BlockSpec(
                    "block",
                    c_in,
                    c_out,
                    *size,
                    stride=stride if first else 1,
                    kernel=block.kernel,
                    expand=block.expand,
                    act=stage.act,
                    se=stage.se,
                )
            )
            c_in = c_out
    head = space.head_channels
    out.append(BlockSpec("head", c_in, head, *sizes[-1]))
    return out


def all_blocks(space: MBConvSpace, input_shape: Sequence[int]) -> list[BlockSpec]:
    """Every table entry any architecture of ``space`` can use at ``input_shape``."""
    stem_stride, strides, sizes = _geometry(space, input_shape)
    c, h0, w0 = (int(v) for v in input_shape)
    sp = space
    specs = [BlockSpec("stem", c, sp.stem_channels, h0, w0, stem_stride)]
    seen: set[str] = set()
    previous = [sp.stem_channels]
    for base, stride, (h, w) in zip(sp.stage_channels, strides, sizes, strict=False):
        widths = sorted({make_divisible(base * width) for width in sp.widths})
        inner = (-(-h // stride), -(-w // stride))
        for c_out in widths:
            inputs = [(c_in, (h, w), stride) for c_in in previous]
            if max(sp.depths) > 1:
                inputs.append((c_out, inner, 1))
            for c_in, size, s in inputs:
                for kernel in sp.kernels:
                    for expand in sp.expands:
                        for act in sp.activations:
                            for se in sp.se:
                                spec = BlockSpec(
                                    "block", c_in, c_out, *size, s, kernel, expand, act, bool(se)
                                )
                                if spec.key not in seen:
                                    seen.add(spec.key)
                                    specs.append(spec)
        previous = widths
    for c_in in previous:
        specs.append(BlockSpec("head", c_in, sp.head_channels, *sizes[-1]))
    return specs
