"""Architectures of the ``mbconv`` space and the geometry of the networks built from them.

Torch-free: the space, the closed-form layer list and the block table use these as the
network builder does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from hwnas.spaces.base import Arch, make_divisible

if TYPE_CHECKING:
    from hwnas.spaces.mbconv.space import MBConvSpace


@dataclass(frozen=True)
class MBBlock:
    """One inverted-residual block: depthwise kernel size and expand ratio."""

    kernel: int
    expand: int

    def __str__(self) -> str:
        return f"k{self.kernel}e{self.expand}"


@dataclass(frozen=True)
class MBStage:
    """One stage: width multiplier, activation, squeeze-excite and its blocks."""

    width: float
    act: str
    se: bool
    blocks: tuple[MBBlock, ...]

    def __str__(self) -> str:
        head = f"w{self.width:g}-{self.act}" + ("-se" if self.se else "")
        return head + ":" + ",".join(str(b) for b in self.blocks)


@dataclass(frozen=True)
class MBConvArch(Arch):
    """An ``mbconv`` architecture: one :class:`MBStage` per stage."""

    space_name: ClassVar[str] = "mbconv"
    stages: tuple[MBStage, ...]

    def __str__(self) -> str:
        return "|".join(str(s) for s in self.stages)

    @property
    def depth(self) -> int:
        """The total number of MBConv blocks."""
        return sum(len(s.blocks) for s in self.stages)


# -- geometry of the built models (used by builders and the closed-form cost counter) --
#: Inputs at least this large (smaller side) get a stride-2 stem, as on ImageNet.
STEM_STRIDE_MIN_SIZE = 64
#: A stage keeps its stride 2 only while its input is at least this large (smaller side).
STAGE_STRIDE_MIN_SIZE = 4


def plan_strides(space: MBConvSpace, height: int, width: int) -> tuple[int, list[int]]:
    """The stem stride and each stage's stride for an input of ``height`` x ``width``.

    The stem downsamples only inputs of at least :data:`STEM_STRIDE_MIN_SIZE` pixels; a
    stage with stride 2 keeps it only while its input is at least
    :data:`STAGE_STRIDE_MIN_SIZE` pixels, so no feature map shrinks below 2x2 through a
    stride (and never below 1x1). 8x8 digits run at 8-4-2, 32x32 images at 32-16-8-4-2
    and 224x224 images at 112-56-28-14-7, as in MobileNetV3.
    """
    size = min(height, width)
    stem = 2 if size >= STEM_STRIDE_MIN_SIZE else 1
    size = -(-size // stem)
    strides = []
    for stride in space.stage_strides:
        if stride == 2 and size >= STAGE_STRIDE_MIN_SIZE:
            strides.append(2)
            size = -(-size // 2)
        else:
            strides.append(1)
    return stem, strides


def stage_channels(stage: MBStage, base: int) -> int:
    """Output channels of a stage: its base channels times its width, divisible by 8."""
    return make_divisible(base * stage.width)
