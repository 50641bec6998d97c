"""The closed-form operator list of ``nb201`` models (costs and predictor features)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hwnas.costs import Layer, conv_layer

if TYPE_CHECKING:
    from hwnas.spaces.nb201.space import NB201Arch, NB201Space


def nb201_layers(
    space: NB201Space, arch: NB201Arch, shape: Sequence[int], classes: int
) -> list[Layer]:
    """The operators of the ``nb201`` model of ``arch``, in order, with their costs.

    Every edge is computed (``none`` is a multiplication by zero, which onnxruntime keeps),
    so each cell has the same operators; ``act`` layers are the ReLUs before convolutions.
    """
    c, h, w = (int(v) for v in shape)
    channels = space.channels
    layers = [conv_layer("conv", -1, 3, c, channels[0], h, w)]
    for stage, ch in enumerate(channels):
        if stage > 0:
            prev = channels[stage - 1]
            h_in, w_in = h, w
            h, w = -(-h // 2), -(-w // 2)
            layers += [
                Layer("act", stage, 1, prev, prev, h_in, w_in, 0, 0, "relu"),
                conv_layer("conv", stage, 3, prev, ch, h, w),
                Layer("act", stage, 1, ch, ch, h, w, 0, 0, "relu"),
                conv_layer("conv", stage, 3, ch, ch, h, w),
                Layer("pool", stage, 2, prev, prev, h, w, 0, 0),
                conv_layer("pw", stage, 1, prev, ch, h, w, bn=False),
                Layer("add", stage, 1, ch, ch, h, w, 0, 0),
            ]
        cell: list[Layer] = []
        for op in arch.ops:
            if op in ("nor_conv_3x3", "nor_conv_1x1"):
                k = 3 if op == "nor_conv_3x3" else 1
                cell.append(Layer("act", stage, 1, ch, ch, h, w, 0, 0, "relu"))
                kind = "conv" if k == 3 else "pw"
                cell.append(conv_layer(kind, stage, k, ch, ch, h, w))
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
