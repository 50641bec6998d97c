"""The ``mbconv`` space: MobileNetV2/V3 and Once-for-All style inverted-residual networks.

A network is a stem, a few stages of MBConv blocks and a head. Each stage chooses its depth
(number of blocks), a width multiplier, its activation and whether its blocks use
squeeze-excite; each block chooses its depthwise kernel size and expand ratio.

String form, one ``|``-separated entry per stage::

    w1-relu:k3e4,k5e6|w0.75-hswish-se:k7e1|...

``w<width>`` is the width multiplier (``g``-formatted), then the activation, an optional
``-se``, and after ``:`` one ``k<kernel>e<expand>`` per block.

Encoding: for each stage, ``[depth, width, activation, se]`` indices followed by
``[kernel, expand]`` indices for each of ``max(depths)`` block slots. Slots beyond the
stage's depth have no effect; :meth:`MBConvSpace.encode` writes 0 there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.errors import ArchError
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.spaces.mbconv.arch import MBBlock, MBConvArch, MBStage, stage_channels
from hwnas.spaces.registry import register_space

if TYPE_CHECKING:
    from hwnas.costs import Layer
    from hwnas.nn.build import HwnasNet
    from hwnas.nn.supernet.base import Supernet
    from hwnas.spaces.mbconv.blocks import BlockSpec

_STAGE_RE = re.compile(r"^w(?P<width>[0-9.]+)-(?P<act>[a-z]+)(?P<se>-se)?:(?P<blocks>.+)$")
_BLOCK_RE = re.compile(r"^k(?P<kernel>\d+)e(?P<expand>\d+)$")


@register_space("mbconv")
class MBConvSpace(SearchSpace):
    """MobileNetV2/V3 / Once-for-All style space with elastic depth, kernel, expand and width.

    The defaults follow Once-for-All's MobileNetV3 space (5 stages of 1-4 blocks, kernels
    3/5/7, expand ratios 3/4/6) with expand ratio 1, per-stage width multipliers,
    activation and squeeze-excite added. Strides adapt to the input size when a model is
    built (see :func:`hwnas.nn.mbconv.plan_strides`).

    Args:
        stage_channels: Output channels of each stage at width multiplier 1.
        stage_strides: Stride (1 or 2) of each stage's first block for large inputs.
        depths: Allowed numbers of blocks per stage.
        kernels: Allowed depthwise kernel sizes (odd).
        expands: Allowed expand ratios.
        widths: Allowed per-stage width multipliers.
        activations: Allowed activations (``relu``, ``hswish``).
        se: Allowed squeeze-excite settings.
        stem_channels: Channels of the stem convolution.
        head_channels: Channels of the final 1x1 convolution before pooling.
    """

    name = "mbconv"
    version = "1"

    def __init__(
        self,
        stage_channels: Sequence[int] = (24, 40, 80, 112, 160),
        stage_strides: Sequence[int] = (2, 2, 2, 1, 2),
        depths: Sequence[int] = (1, 2, 3, 4),
        kernels: Sequence[int] = (3, 5, 7),
        expands: Sequence[int] = (1, 3, 4, 6),
        widths: Sequence[float] = (0.5, 0.75, 1.0),
        activations: Sequence[str] = ("relu", "hswish"),
        se: Sequence[bool] = (False, True),
        stem_channels: int = 16,
        head_channels: int = 512,
    ) -> None:
        self.stage_channels = _positive_ints("stage_channels", stage_channels)
        self.stage_strides = tuple(int(s) for s in stage_strides)
        if len(self.stage_strides) != len(self.stage_channels) or any(
            s not in (1, 2) for s in self.stage_strides
        ):
            raise ArchError(
                "stage_strides: expected one stride (1 or 2) per stage, "
                f"got {stage_strides!r} for {len(self.stage_channels)} stages"
            )
        self.depths = _positive_ints("depths", depths)
        self.kernels = _positive_ints("kernels", kernels)
        if any(k % 2 == 0 for k in self.kernels):
            raise ArchError(f"kernels: expected odd sizes, got {kernels!r}")
        self.expands = _positive_ints("expands", expands)
        self.widths = tuple(float(w) for w in widths)
        if not self.widths or min(self.widths) <= 0 or len(set(self.widths)) != len(self.widths):
            raise ArchError(f"widths: expected distinct positive multipliers, got {widths!r}")
        self.activations = tuple(str(a) for a in activations)
        unknown = set(self.activations) - {"relu", "hswish"}
        if not self.activations or unknown:
            raise ArchError(f"activations: expected a subset of relu, hswish, got {activations!r}")
        self.se = tuple(bool(s) for s in se)
        if not self.se or len(set(self.se)) != len(self.se):
            raise ArchError(f"se: expected distinct booleans, got {se!r}")
        self.stem_channels = int(stem_channels)
        self.head_channels = int(head_channels)
        if self.stem_channels < 1 or self.head_channels < 1:
            raise ArchError("stem_channels and head_channels: expected positive integers")

    # -- helpers -----------------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        """The number of stages."""
        return len(self.stage_channels)

    @property
    def max_depth(self) -> int:
        """The largest number of blocks in a stage."""
        return max(self.depths)

    @property
    def _stage_dims(self) -> int:
        return 4 + 2 * self.max_depth

    # -- the encoding -------------------------------------------------------------------
    @property
    def n_choices(self) -> tuple[int, ...]:
        stage = [len(self.depths), len(self.widths), len(self.activations), len(self.se)]
        stage += [len(self.kernels), len(self.expands)] * self.max_depth
        return tuple(stage * self.num_stages)

    def encode(self, arch: Arch) -> tuple[int, ...]:
        arch = self._check(arch)
        try:
            return self._encode(arch)
        except ValueError:
            raise ArchError(f"mbconv architecture {arch} has a choice outside this space") from None

    def _encode(self, arch: MBConvArch) -> tuple[int, ...]:
        genes: list[int] = []
        for stage in arch.stages:
            genes += [
                self.depths.index(len(stage.blocks)),
                self.widths.index(stage.width),
                self.activations.index(stage.act),
                self.se.index(stage.se),
            ]
            for slot in range(self.max_depth):
                if slot < len(stage.blocks):
                    block = stage.blocks[slot]
                    genes += [self.kernels.index(block.kernel), self.expands.index(block.expand)]
                else:
                    genes += [0, 0]
        return tuple(genes)

    def decode(self, encoding: Sequence[int]) -> MBConvArch:
        genes = self.validate_encoding(encoding)
        stages = []
        for s in range(self.num_stages):
            g = genes[s * self._stage_dims : (s + 1) * self._stage_dims]
            depth = self.depths[g[0]]
            blocks = tuple(
                MBBlock(self.kernels[g[4 + 2 * b]], self.expands[g[5 + 2 * b]])
                for b in range(depth)
            )
            stages.append(MBStage(self.widths[g[1]], self.activations[g[2]], self.se[g[3]], blocks))
        return MBConvArch(tuple(stages))

    def parse(self, text: str) -> MBConvArch:
        parts = text.strip().split("|")
        if len(parts) != self.num_stages:
            raise ArchError(
                f"mbconv architecture {text!r}: expected {self.num_stages} stages separated "
                "by '|', like w1-relu:k3e4,k5e6|w0.75-hswish-se:k7e1|..."
            )
        stages = []
        for i, part in enumerate(parts):
            m = _STAGE_RE.match(part)
            if m is None:
                raise ArchError(
                    f"mbconv stage {i} {part!r}: expected w<width>-<activation>[-se]:"
                    "k<kernel>e<expand>,..."
                )
            width = float(m["width"])
            if not any(math.isclose(width, w) for w in self.widths):
                raise ArchError(
                    f"mbconv stage {i} width: expected one of {self.widths}, got {width}"
                )
            width = next(w for w in self.widths if math.isclose(width, w))
            if m["act"] not in self.activations:
                raise ArchError(
                    f"mbconv stage {i} activation: expected one of {self.activations}, "
                    f"got {m['act']!r}"
                )
            se = m["se"] is not None
            if se not in self.se:
                raise ArchError(f"mbconv stage {i}: squeeze-excite={se} is not in this space")
            blocks = []
            for spec in m["blocks"].split(","):
                b = _BLOCK_RE.match(spec)
                if b is None:
                    raise ArchError(f"mbconv stage {i} block {spec!r}: expected k<kernel>e<expand>")
                kernel, expand = int(b["kernel"]), int(b["expand"])
                if kernel not in self.kernels or expand not in self.expands:
                    raise ArchError(
                        f"mbconv stage {i} block {spec!r}: expected kernel in {self.kernels} "
                        f"and expand in {self.expands}"
                    )
                blocks.append(MBBlock(kernel, expand))
            if len(blocks) not in self.depths:
                raise ArchError(
                    f"mbconv stage {i}: expected a depth in {self.depths}, got {len(blocks)}"
                )
            stages.append(MBStage(width, m["act"], se, tuple(blocks)))
        return MBConvArch(tuple(stages))

    def network_key(self, arch: Arch) -> str:
        """The architecture with each stage's width replaced by its channel count: widths
        that round to the same count build the same network (by default ``w0.75`` and
        ``w1`` of the 24-channel first stage both give 24 channels)."""
        mb = self._check(arch)
        stages = []
        for stage, base in zip(mb.stages, self.stage_channels, strict=True):
            head = f"c{stage_channels(stage, base)}-{stage.act}" + ("-se" if stage.se else "")
            stages.append(head + ":" + ",".join(str(b) for b in stage.blocks))
        return "|".join(stages)

    def size(self) -> int:
        per_block = len(self.kernels) * len(self.expands)
        per_stage = len(self.widths) * len(self.activations) * len(self.se)
        per_stage *= sum(per_block**d for d in self.depths)
        return int(per_stage**self.num_stages)

    def config(self) -> dict[str, Any]:
        return {
            "stage_channels": list(self.stage_channels),
            "stage_strides": list(self.stage_strides),
            "depths": list(self.depths),
            "kernels": list(self.kernels),
            "expands": list(self.expands),
            "widths": list(self.widths),
            "activations": list(self.activations),
            "se": list(self.se),
            "stem_channels": self.stem_channels,
            "head_channels": self.head_channels,
        }

    # -- extremes, handy for budgets and supernets --------------------------------------
    def largest(self) -> MBConvArch:
        """The architecture with every choice at its most expensive value."""
        block = MBBlock(max(self.kernels), max(self.expands))
        stage = MBStage(
            max(self.widths), self.activations[-1], max(self.se), (block,) * self.max_depth
        )
        return MBConvArch((stage,) * self.num_stages)

    def smallest(self) -> MBConvArch:
        """The architecture with every choice at its cheapest value."""
        block = MBBlock(min(self.kernels), min(self.expands))
        depth = min(self.depths)
        stage = MBStage(min(self.widths), self.activations[0], min(self.se), (block,) * depth)
        return MBConvArch((stage,) * self.num_stages)

    # -- the plugin bundle ------------------------------------------------------------------
    def build(self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int) -> HwnasNet:
        from hwnas.spaces.mbconv.model import MBConvNet

        return MBConvNet(self, self._check(arch), input_shape, num_classes)

    def layers(
        self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int
    ) -> list[Layer]:
        from hwnas.spaces.mbconv.layers import mbconv_layers

        return mbconv_layers(self, self._check(arch), input_shape, num_classes)

    def build_supernet(self, input_shape: tuple[int, int, int], num_classes: int) -> Supernet:
        from hwnas.spaces.mbconv.supernet import MBConvSupernet

        return MBConvSupernet(self, input_shape, num_classes)

    def table_blocks(self, input_shape: tuple[int, int, int]) -> list[BlockSpec]:
        from hwnas.spaces.mbconv.blocks import all_blocks

        return all_blocks(self, input_shape)

    def arch_table_blocks(self, arch: Arch, input_shape: tuple[int, int, int]) -> list[BlockSpec]:
        from hwnas.spaces.mbconv.blocks import arch_blocks

        return arch_blocks(self, self._check(arch), input_shape)

    def active_genes(self, encodings: np.ndarray) -> np.ndarray:
        """Block slots beyond their stage's depth have no effect."""
        encodings = np.atleast_2d(np.asarray(encodings))
        mask = np.ones(encodings.shape, dtype=bool)
        depths = np.asarray(self.depths)
        per_stage = self._stage_dims
        for s in range(self.num_stages):
            start = s * per_stage
            depth = depths[encodings[:, start]]
            for slot in range(self.max_depth):
                off = slot >= depth
                mask[off, start + 4 + 2 * slot] = False
                mask[off, start + 5 + 2 * slot] = False
        return mask

    def _check(self, arch: Arch) -> MBConvArch:
        if not isinstance(arch, MBConvArch):
            raise ArchError(f"expected an mbconv architecture, got {type(arch).__name__}")
        if len(arch.stages) != self.num_stages:
            raise ArchError(
                f"mbconv architecture has {len(arch.stages)} stages, the space {self.num_stages}"
            )
        return arch


def _positive_ints(field: str, values: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if not out or min(out) < 1 or len(set(out)) != len(out):
        raise ArchError(f"{field}: expected distinct positive integers, got {values!r}")
    return out
