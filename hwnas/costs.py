"""MACs and parameter counts, with fvcore.

Convention: **MACs** are the multiply-accumulate operations of convolutions and fully
connected / matrix-multiply layers at batch size 1, as fvcore counts them (fvcore counts one
fused multiply-add as one "flop", so its count of these operators *is* the MAC count).
Element-wise work (batch norm, activations, pooling, additions) is not counted. FLOPs, where
a paper means real floating-point operations, are about 2 x MACs. NAS-Bench-201's "FLOPs"
(7.8 M to 220 M on CIFAR-10) follow this MAC convention and are reproduced by it.
**Parameters** are all trainable and non-trainable entries of ``model.parameters()``
(batch-norm running statistics, which are buffers, are not counted).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hwnas.errors import ArchError

if TYPE_CHECKING:
    from torch import nn

    from hwnas.spaces.base import Arch, SearchSpace
    from hwnas.spaces.mbconv import MBConvArch, MBConvSpace
    from hwnas.spaces.nb201 import NB201Arch, NB201Space

#: fvcore operator names counted as multiply-accumulates.
MAC_OPERATORS = frozenset({"conv", "linear", "matmul", "bmm", "einsum", "addmm", "baddbmm"})


@dataclass(frozen=True)
class Costs:
    """The compute cost of a model for one input sample."""

    macs: int
    params: int

    @property
    def flops(self) -> int:
        """Floating-point operations of the counted layers (2 per MAC)."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, int]:
        """``{"macs": ..., "params": ...}``."""
        return {"macs": self.macs, "params": self.params}


def count_params(model: nn.Module) -> int:
    """The number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass of ``model`` on a single ``input_shape`` (C, H, W) sample."""
    import torch
    from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, torch.zeros(1, *input_shape))
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            # fvcore logs every operator it skips; element-wise ops are skipped on purpose.
            logger = logging.getLogger("fvcore.nn.jit_analysis")
            level = logger.level
            logger.setLevel(logging.ERROR)
            try:
                by_operator = analysis.by_operator()
            finally:
                logger.setLevel(level)
    finally:
        model.train(was_training)
    return int(sum(n for op, n in by_operator.items() if op in MAC_OPERATORS))


def count_costs(model: nn.Module, input_shape: tuple[int, ...]) -> Costs:
    """MACs and parameters of ``model`` for one ``input_shape`` sample."""
    return Costs(macs=count_macs(model, input_shape), params=count_params(model))


def count_costs_fast(
    space: SearchSpace, arch: Arch, input_shape: Sequence[int], num_classes: int
) -> Costs:
    """MACs and parameters from closed-form expressions, without building the model.

    Equal to :func:`count_costs` of the model :func:`hwnas.nn.build_model` builds (tested
    over random architectures and input shapes), but about a thousand times faster: what
    predictors and searches use to cost many architectures.
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape) < 1 or int(num_classes) < 2:
        raise ArchError(
            f"input_shape/num_classes: expected (C, H, W) and >= 2 classes, "
            f"got {tuple(input_shape)} and {num_classes}"
        )
    if space.name == "mbconv":
        return _mbconv_costs(space, arch, shape, int(num_classes))  # type: ignore[arg-type]
    if space.name == "nb201":
        return _nb201_costs(space, arch, shape, int(num_classes))  # type: ignore[arg-type]
    raise ArchError(f"no closed-form cost model for space {space.name!r}")


def _conv(c_in: int, c_out: int, k: int, h: int, w: int, groups: int = 1) -> int:
    return c_out * (c_in // groups) * k * k * h * w


def _mbconv_costs(
    space: MBConvSpace, arch: MBConvArch, shape: tuple[int, int, int], classes: int
) -> Costs:
    from hwnas.spaces.mbconv import make_divisible, plan_strides, stage_channels

    c, h, w = shape
    stem_stride, strides = plan_strides(space, h, w)
    h, w = -(-h // stem_stride), -(-w // stem_stride)
    c_stem = space.stem_channels
    macs = _conv(c, c_stem, 3, h, w)
    params = c_stem * c * 9 + 2 * c_stem
    c_in = c_stem
    for stage, base, stride in zip(arch.stages, space.stage_channels, strides, strict=True):
        c_out = stage_channels(stage, base)
        for i, block in enumerate(stage.blocks):
            s = stride if i == 0 else 1
            mid = c_in * block.expand
            if block.expand != 1:
                macs += _conv(c_in, mid, 1, h, w)
                params += c_in * mid + 2 * mid
            h, w = -(-h // s), -(-w // s)
            macs += _conv(mid, mid, block.kernel, h, w, groups=mid)
            params += mid * block.kernel**2 + 2 * mid
            if stage.se:
                hidden = make_divisible(mid / 4)
                macs += 2 * mid * hidden
                params += 2 * mid * hidden + hidden + mid
            macs += _conv(mid, c_out, 1, h, w)
            params += mid * c_out + 2 * c_out
            c_in = c_out
    head = space.head_channels
    macs += _conv(c_in, head, 1, h, w) + head * classes
    params += c_in * head + 2 * head + head * classes + classes
    return Costs(macs=macs, params=params)


def _nb201_costs(
    space: NB201Space, arch: NB201Arch, shape: tuple[int, int, int], classes: int
) -> Costs:
    c, h, w = shape
    channels = space.channels
    macs = _conv(c, channels[0], 3, h, w)
    params = channels[0] * c * 9 + 2 * channels[0]
    n3 = arch.ops.count("nor_conv_3x3")
    n1 = arch.ops.count("nor_conv_1x1")
    for stage, ch in enumerate(channels):
        if stage > 0:
            prev = channels[stage - 1]
            h, w = -(-h // 2), -(-w // 2)
            macs += _conv(prev, ch, 3, h, w) + _conv(ch, ch, 3, h, w) + _conv(prev, ch, 1, h, w)
            params += 9 * prev * ch + 9 * ch * ch + prev * ch + 4 * ch
        per_cell_macs = n3 * _conv(ch, ch, 3, h, w) + n1 * _conv(ch, ch, 1, h, w)
        per_cell_params = n3 * (9 * ch * ch + 2 * ch) + n1 * (ch * ch + 2 * ch)
        macs += space.cells_per_stage * per_cell_macs
        params += space.cells_per_stage * per_cell_params
    last = channels[-1]
    macs += last * classes
    params += 2 * last + last * classes + classes
    return Costs(macs=macs, params=params)
