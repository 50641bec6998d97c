"""The closed-form operator list of ``mbconv`` models (costs and predictor features)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hwnas.costs import Layer, conv_layer
from hwnas.spaces.base import make_divisible
from hwnas.spaces.mbconv.arch import MBConvArch, plan_strides, stage_channels

if TYPE_CHECKING:
    from hwnas.spaces.mbconv.space import MBConvSpace


def mbconv_layers(
    space: MBConvSpace, arch: MBConvArch, shape: Sequence[int], classes: int
) -> list[Layer]:
    """The operators of the ``mbconv`` model of ``arch``, in order, with their costs.

    Batch norm is folded into the preceding convolution (as onnxruntime does), so it adds
    parameters (scale and shift) but no operator. Stage ``-1`` is the stem, ``num_stages``
    the head.
    """
    c, h, w = (int(v) for v in shape)
    stem_stride, strides = plan_strides(space, h, w)
    h, w = -(-h // stem_stride), -(-w // stem_stride)
    c_stem = space.stem_channels
    layers = [conv_layer("conv", -1, 3, c, c_stem, h, w, "hswish")]
    c_in = c_stem
    for s, (stage, base, stride) in enumerate(
        zip(arch.stages, space.stage_channels, strides, strict=True)
    ):
        c_out = stage_channels(stage, base)
        for i, block in enumerate(stage.blocks):
            st = stride if i == 0 else 1
            mid = c_in * block.expand
            if block.expand != 1:
                layers.append(conv_layer("pw", s, 1, c_in, mid, h, w, stage.act))
            h_in, w_in = h, w
            h, w = -(-h // st), -(-w // st)
            k = block.kernel
            layers.append(conv_layer("dw", s, k, mid, mid, h, w, stage.act, groups=mid))
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
            layers.append(conv_layer("pw", s, 1, mid, c_out, h, w))
            if st == 1 and c_in == c_out and (h_in, w_in) == (h, w):
                layers.append(Layer("add", s, 1, c_out, c_out, h, w, 0, 0))
            c_in = c_out
    head = space.head_channels
    last = len(space.stage_channels)
    layers.append(conv_layer("pw", last, 1, c_in, head, h, w, "hswish"))
    layers.append(Layer("pool", last, h, head, head, 1, 1, 0, 0))
    layers.append(
        Layer("fc", last, 1, head, classes, 1, 1, head * classes, head * classes + classes)
    )
    return layers
