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
    if space.name not in ("mbconv", "nb201"):
        raise ArchError(f"no closed-form cost model for space {space.name!r}")
    layers = count_layers(space, arch, shape, int(num_classes))
    return Costs(macs=sum(x.macs for x in layers), params=sum(x.params for x in layers))


def _conv(c_in: int, c_out: int, k: int, h: int, w: int, groups: int = 1) -> int:
    return c_out * (c_in // groups) * k * k * h * w


@dataclass(frozen=True)
class Layer:
    """One operator of a built model, as the closed-form counters see it (batch 1).

    ``kind`` is one of ``conv`` (dense k x k), ``pw`` (1x1), ``dw`` (depthwise), ``se``
    (squeeze-excite: pool, two 1x1 convolutions, gate), ``fc``, ``pool`` (average),
    ``add`` (a sum of two maps), ``mul`` (NB201's ``none``: times zero), ``act`` (a
    stand-alone activation) and ``bn`` (a batch norm that no convolution absorbs); ``act``
    is the activation applied to the output (``relu``, ``hswish`` or ``""``).
    """

    kind: str
    stage: int
    kernel: int
    c_in: int
    c_out: int
    h_out: int
    w_out: int
    macs: int
    params: int
    act: str = ""

    @property
    def out_elems(self) -> int:
        """Elements of the output feature map."""
        return self.c_out * self.h_out * self.w_out


def mbconv_layers(
    space: MBConvSpace, arch: MBConvArch, shape: Sequence[int], classes: int
) -> list[Layer]:
    """The operators of the ``mbconv`` model of ``arch``, in order, with their costs.

    Batch norm is folded into the preceding convolution (as onnxruntime does), so it adds
    parameters (scale and shift) but no operator. Stage ``-1`` is the stem, ``num_stages``
    the head.
    """
    from hwnas.spaces.mbconv import make_divisible, plan_strides, stage_channels

    c, h, w = (int(v) for v in shape)
    stem_stride, strides = plan_strides(space, h, w)
    h, w = -(-h // stem_stride), -(-w // stem_stride)
    c_stem = space.stem_channels
    layers = [
        Layer(
            "conv",
            -1,
            3,
            c,
            c_stem,
            h,
            w,
            _conv(c, c_stem, 3, h, w),
            9 * c * c_stem + 2 * c_stem,
            "hswish",
        )
    ]
    c_in = c_stem
    for s, (stage, base, stride) in enumerate(
        zip(arch.stages, space.stage_channels, strides, strict=True)
    ):
        c_out = stage_channels(stage, base)
        for i, block in enumerate(stage.blocks):
            st = stride if i == 0 else 1
            mid = c_in * block.expand
            if block.expand != 1:
                layers.append(
                    Layer(
                        "pw",
                        s,
                        1,
                        c_in,
                        mid,
                        h,
                        w,
                        _conv(c_in, mid, 1, h, w),
                        c_in * mid + 2 * mid,
                        stage.act,
                    )
                )
            h_in, w_in = h, w
            h, w = -(-h // st), -(-w // st)
            k = block.kernel
            layers.append(
                Layer(
                    "dw",
                    s,
                    k,
                    mid,
                    mid,
                    h,
                    w,
                    _conv(mid, mid, k, h, w, groups=mid),
                    mid * k * k + 2 * mid,
                    stage.act,
                )
            )
            if stage.se:
                hidden = make_divisible(mid / 4)
                layers.append(
                    Layer(
                        "se",
                        s,
                        1,
                        mid,
                        mid,
                        h,
                        w,
                        2 * mid * hidden,
                        2 * mid * hidden + hidden + mid,
                    )
                )
            layers.append(
                Layer(
                    "pw",
                    s,
                    1,
                    mid,
                    c_out,
                    h,
                    w,
                    _conv(mid, c_out, 1, h, w),
                    mid * c_out + 2 * c_out,
                )
            )
            if st == 1 and c_in == c_out and (h_in, w_in) == (h, w):
                layers.append(Layer("add", s, 1, c_out, c_out, h, w, 0, 0))
            c_in = c_out
    head = space.head_channels
    last = len(space.stage_channels)
    layers.append(
        Layer(
            "pw",
            last,
            1,
            c_in,
            head,
            h,
            w,
            _conv(c_in, head, 1, h, w),
            c_in * head + 2 * head,
            "hswish",
        )
    )
    layers.append(Layer("pool", last, h, head, head, 1, 1, 0, 0))
    layers.append(
        Layer("fc", last, 1, head, classes, 1, 1, head * classes, head * classes + classes)
    )
    return layers


def nb201_layers(
    space: NB201Space, arch: NB201Arch, shape: Sequence[int], classes: int
) -> list[Layer]:
    """The operators of the ``nb201`` model of ``arch``, in order, with their costs.

    Every edge is computed (``none`` is a multiplication by zero, which onnxruntime keeps),
    so each cell has the same operators; ``act`` layers are the ReLUs before convolutions.
    """
    c, h, w = (int(v) for v in shape)
    channels = space.channels
    layers = [
        Layer(
            "conv",
            -1,
            3,
            c,
            channels[0],
            h,
            w,
            _conv(c, channels[0], 3, h, w),
            9 * c * channels[0] + 2 * channels[0],
        )
    ]
    for stage, ch in enumerate(channels):
        if stage > 0:
            prev = channels[stage - 1]
            h_in, w_in = h, w
            h, w = -(-h // 2), -(-w // 2)
            layers += [
                Layer("act", stage, 1, prev, prev, h_in, w_in, 0, 0, "relu"),
                Layer(
                    "conv",
                    stage,
                    3,
                    prev,
                    ch,
                    h,
                    w,
                    _conv(prev, ch, 3, h, w),
                    9 * prev * ch + 2 * ch,
                ),
                Layer("act", stage, 1, ch, ch, h, w, 0, 0, "relu"),
                Layer("conv", stage, 3, ch, ch, h, w, _conv(ch, ch, 3, h, w), 9 * ch * ch + 2 * ch),
                Layer("pool", stage, 2, prev, prev, h, w, 0, 0),
                Layer("pw", stage, 1, prev, ch, h, w, _conv(prev, ch, 1, h, w), prev * ch),
                Layer("add", stage, 1, ch, ch, h, w, 0, 0),
            ]
        cell: list[Layer] = []
        for op in arch.ops:
            if op in ("nor_conv_3x3", "nor_conv_1x1"):
                k = 3 if op == "nor_conv_3x3" else 1
                cell.append(Layer("act", stage, 1, ch, ch, h, w, 0, 0, "relu"))
                kind = "conv" if k == 3 else "pw"
                cell.append(
                    Layer(
                        kind,
                        stage,
                        k,
                        ch,
                        ch,
                        h,
                        w,
                        _conv(ch, ch, k, h, w),
                        k * k * ch * ch + 2 * ch,
                    )
                )
            elif op == "avg_pool_3x3":
                cell.append(Layer("pool", stage, 3, ch, ch, h, w, 0, 0))
            elif op == "none":
                cell.append(Layer("mul", stage, 1, ch, ch, h, w, 0, 0))
        cell += [Layer("add", stage, 1, ch, ch, h, w, 0, 0)] * 3  # node 2: 1 sum, node 3: 2
        layers += cell * space.cells_per_stage
    last = channels[-1]
    layers += [
        Layer("bn", len(channels), 1, last, last, h, w, 0, 2 * last, "relu"),
        Layer("pool", len(channels), h, last, last, 1, 1, 0, 0),
        Layer(
            "fc", len(channels), 1, last, classes, 1, 1, last * classes, last * classes + classes
        ),
    ]
    return layers


def count_layers(
    space: SearchSpace, arch: Arch, input_shape: Sequence[int], num_classes: int
) -> list[Layer]:
    """The operator list of ``arch`` (:func:`mbconv_layers` or :func:`nb201_layers`)."""
    shape = tuple(int(v) for v in input_shape)
    if space.name == "mbconv":
        return mbconv_layers(space, arch, shape, int(num_classes))  # type: ignore[arg-type]
    if space.name == "nb201":
        return nb201_layers(space, arch, shape, int(num_classes))  # type: ignore[arg-type]
    raise ArchError(f"no operator list for space {space.name!r}")
