"""The closed-form operator list of ``convnet`` models (costs and predictor features)."""

from __future__ import annotations

from collections.abc import Sequence

from hwnas.costs import Layer, conv_layer
from hwnas.spaces.convnet.arch import ConvNetArch, Stage, plan_strides


def convnet_layers(
    arch: ConvNetArch, shape: Sequence[int], classes: int, num_stages: int
) -> list[Layer]:
    """The operators of the ``convnet`` model of ``arch``, in order, with their costs.

    Batch norm is folded into the preceding convolution (as onnxruntime does), so it adds
    parameters (scale and shift) but no operator. Stage ``-1`` is the stem, ``num_stages``
    the head. No max pooling anywhere: stride-2 convolutions downsample.
    """
    c, h, w = (int(v) for v in shape)
    stem_stride, strides = plan_strides(arch, h, w)
    h, w = -(-h // stem_stride), -(-w // stem_stride)
    stem = arch.stem
    layers = [conv_layer(_dense(stem.kernel), -1, stem.kernel, c, stem.channels, h, w, "relu")]
    c_in = stem.channels
    for s, (stage, stride) in enumerate(zip(arch.present, strides, strict=True)):
        for i in range(stage.depth):
            block, h, w = _block(stage, s, c_in, stride if i == 0 else 1, h, w)
            layers += block
            c_in = stage.channels
    head = arch.head
    if head.conv:
        layers.append(conv_layer("pw", num_stages, 1, c_in, head.conv, h, w, "relu"))
        c_in = head.conv
    layers.append(Layer("pool", num_stages, h, c_in, c_in, 1, 1, 0, 0))
    if head.fc:
        layers.append(_fc(num_stages, c_in, head.fc, "relu"))
        c_in = head.fc
    layers.append(_fc(num_stages, c_in, classes))
    return layers


def _block(
    stage: Stage, s: int, c_in: int, stride: int, h_in: int, w_in: int
) -> tuple[list[Layer], int, int]:
    """One block of ``stage`` on an ``h_in`` x ``w_in`` input, and its output size."""
    c_out, k = stage.channels, stage.kernel
    h, w = -(-h_in // stride), -(-w_in // stride)
    if stage.block == "plain":
        return [conv_layer(_dense(k), s, k, c_in, c_out, h, w, "relu")], h, w
    if stage.block == "basic":
        out = [
            conv_layer(_dense(k), s, k, c_in, c_out, h, w, "relu"),
            conv_layer(_dense(k), s, k, c_out, c_out, h, w),
        ]
        if stride != 1 or c_in != c_out:  # the 1x1 projection shortcut
            out.append(conv_layer("pw", s, 1, c_in, c_out, h, w))
        return [*out, Layer("add", s, 1, c_out, c_out, h, w, 0, 0, "relu")], h, w
    mid = c_in * stage.expand
    out = []
    if stage.expand != 1:
        out.append(conv_layer("pw", s, 1, c_in, mid, h_in, w_in, "relu"))
    out.append(conv_layer("dw", s, k, mid, mid, h, w, "relu", groups=mid))
    out.append(conv_layer("pw", s, 1, mid, c_out, h, w))
    if stride == 1 and c_in == c_out:
        out.append(Layer("add", s, 1, c_out, c_out, h, w, 0, 0))
    return out, h, w


def _dense(kernel: int) -> str:
    return "pw" if kernel == 1 else "conv"


def _fc(stage: int, c_in: int, c_out: int, act: str = "") -> Layer:
    return Layer("fc", stage, 1, c_in, c_out, 1, 1, c_in * c_out, c_in * c_out + c_out, act)
