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
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from torch import nn

    from hwnas.spaces.base import Arch, SearchSpace

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
    """MACs of one forward pass of ``model`` on a single ``input_shape`` sample (an image
    ``(C, H, W)`` or token ids ``(L,)``)."""
    import torch
    from fvcore.nn import FlopCountAnalysis

    from hwnas.data.inputs import example_input

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, example_input(input_shape))
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
    layers = count_layers(space, arch, input_shape, num_classes)
    return Costs(macs=sum(x.macs for x in layers), params=sum(x.params for x in layers))


def conv_macs(c_in: int, c_out: int, k: int, h: int, w: int, groups: int = 1) -> int:
    """MACs of a ``k`` x ``k`` convolution with an ``h`` x ``w`` output (batch 1)."""
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


def count_layers(
    space: SearchSpace, arch: Arch, input_shape: Sequence[int], num_classes: int
) -> list[Layer]:
    """The closed-form operator list of ``arch`` (:meth:`SearchSpace.layers`), with the
    input shape and class count validated first."""
    from hwnas.spaces.base import check_input_shape

    shape = check_input_shape(input_shape, num_classes, space)
    # SearchSpace.layers declares the image shape of the image spaces; token spaces take (L,).
    return space.layers(space.check_arch(arch), cast(tuple[int, int, int], shape), int(num_classes))


def conv_layer(
    kind: str,
    stage: int,
    kernel: int,
    c_in: int,
    c_out: int,
    h: int,
    w: int,
    act: str = "",
    *,
    groups: int = 1,
    bn: bool = True,
) -> Layer:
    """A convolution (no bias) with an ``h`` x ``w`` output, its batch norm folded in
    (``bn``: two parameters per output channel, no operator of its own)."""
    params = kernel * kernel * (c_in // groups) * c_out + (2 * c_out if bn else 0)
    macs = conv_macs(c_in, c_out, kernel, h, w, groups)
    return Layer(kind, stage, kernel, c_in, c_out, h, w, macs, params, act)
