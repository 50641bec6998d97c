"""Architectures of the ``convnet`` space and the strides of the networks built from them.

Torch-free: the space, the closed-form layer list and the supernet use these as the
network builder does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwnas.spaces.base import Arch

#: The block types of a stage: conv-BN-ReLU, a ResNet basic block, an inverted residual.
BLOCK_TYPES = ("plain", "basic", "mbconv")
#: Inputs at least this large (smaller side) get a stride-2 stem (as in ``mbconv``).
STEM_STRIDE_MIN_SIZE = 64
#: A stage keeps its stride 2 only while its input is at least this large (smaller side).
STAGE_STRIDE_MIN_SIZE = 4


@dataclass(frozen=True)
class Stem:
    """The first convolution (conv-BN-ReLU): kernel size and channels."""

    kernel: int
    channels: int

    def __str__(self) -> str:
        return f"s{self.channels}k{self.kernel}"


@dataclass(frozen=True)
class Stage:
    """One stage: ``depth`` blocks of one type, the first with ``stride``.

    ``expand`` is the expand ratio of ``mbconv`` blocks and 0 for the other types (it has
    no effect there).
    """

    block: str
    channels: int
    kernel: int
    depth: int
    stride: int
    expand: int = 0

    def __str__(self) -> str:
        expand = f"-e{self.expand}" if self.block == "mbconv" else ""
        return f"{self.block}-c{self.channels}-k{self.kernel}{expand}-d{self.depth}-s{self.stride}"


@dataclass(frozen=True)
class Head:
    """The head: an optional 1x1 convolution (``conv`` channels, 0 for none), global
    average pooling, an optional hidden fully connected layer (``fc`` units, 0 for none)
    and the classifier."""

    conv: int
    fc: int

    def __str__(self) -> str:
        return f"h{self.conv}-f{self.fc}"


@dataclass(frozen=True)
class ConvNetArch(Arch):
    """A ``convnet`` architecture: stem, one entry per stage slot (``None``: the stage is
    absent; absent stages come last) and head."""

    space_name: ClassVar[str] = "convnet"
    stem: Stem
    stages: tuple[Stage | None, ...]
    head: Head

    def __str__(self) -> str:
        stages = ["-" if s is None else str(s) for s in self.stages]
        return "|".join([str(self.stem), *stages, str(self.head)])

    @property
    def present(self) -> tuple[Stage, ...]:
        """The stages that exist, in order."""
        return tuple(s for s in self.stages if s is not None)

    @property
    def out_channels(self) -> int:
        """Channels of the last stage's output (the head's input)."""
        return self.present[-1].channels if self.present else self.stem.channels


def plan_strides(arch: ConvNetArch, height: int, width: int) -> tuple[int, list[int]]:
    """The stem stride and the stride each present stage's first block really uses.

    The stem downsamples only inputs of at least :data:`STEM_STRIDE_MIN_SIZE` pixels; a
    stage's stride 2 is kept only while its input is at least
    :data:`STAGE_STRIDE_MIN_SIZE` pixels, so no map shrinks below 2x2 through a stride
    (the rule of ``mbconv``'s plan). At 8x8, two stride-2 stages give 8-4-2 and a third
    runs at stride 1.
    """
    stem = stem_stride(height, width)
    size = -(-min(height, width) // stem)
    strides = []
    for stage in arch.present:
        stride = 2 if stage.stride == 2 and size >= STAGE_STRIDE_MIN_SIZE else 1
        strides.append(stride)
        size = -(-size // stride)
    return stem, strides


def stem_stride(height: int, width: int) -> int:
    """2 for inputs of at least :data:`STEM_STRIDE_MIN_SIZE` pixels (smaller side), else 1."""
    return 2 if min(height, width) >= STEM_STRIDE_MIN_SIZE else 1
