"""The ``mbconv`` supernet: elastic depth, kernel, expand ratio and width (Once-for-All).

Every stage holds ``max(depths)`` block slots; a subnet uses the first ``depth`` of them.
Within a block, a smaller kernel is the centre crop of the largest one, and fewer channels
(width multiplier, expand ratio) are the first ``k`` filters and batch-norm channels. A
block's squeeze-excite module runs when its stage has ``se``; the activation (ReLU or
hard-swish) has no parameters and is chosen per stage. Stem, head and classifier are shared
by every subnet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.nn.supernet.base import Supernet
from hwnas.nn.supernet.dynamic import (
    DynamicBatchNorm2d,
    DynamicConv2d,
    DynamicSqueezeExcite,
    copy_bn,
    copy_conv,
    copy_se,
)
from hwnas.spaces.base import Arch, make_divisible
from hwnas.spaces.mbconv.arch import MBBlock, MBConvArch, MBStage, plan_strides, stage_channels
from hwnas.spaces.mbconv.model import ConvBNAct, MBConvBlock, MBConvNet, init_weights

if TYPE_CHECKING:
    from hwnas.spaces.mbconv.space import MBConvSpace

Activation = Callable[[torch.Tensor], torch.Tensor]
ACTIVATIONS: dict[str, Activation] = {"relu": F.relu, "hswish": F.hardswish}


class DynamicMBConvBlock(nn.Module):
    """One block slot: an inverted residual of any kernel, expand ratio and width.

    Args:
        max_in: Largest number of input channels.
        max_out: Largest number of output channels.
        max_expand: Largest expand ratio.
        max_kernel: Largest depthwise kernel.
        stride: Stride of the depthwise convolution.
        with_expand: Whether some expand ratio is not 1 (else no expand convolution).
        with_se: Whether some stage may use squeeze-excite.
    """

    def __init__(
        self,
        max_in: int,
        max_out: int,
        max_expand: int,
        max_kernel: int,
        stride: int,
        with_expand: bool,
        with_se: bool,
    ) -> None:
        super().__init__()
        max_mid = max_in * max_expand
        self.stride = stride
        self.expand_conv = DynamicConv2d(max_in, max_mid) if with_expand else None
        self.expand_bn = DynamicBatchNorm2d(max_mid) if with_expand else None
        self.dw_conv = DynamicConv2d(max_mid, max_mid, max_kernel, stride, depthwise=True)
        self.dw_bn = DynamicBatchNorm2d(max_mid)
        self.se = DynamicSqueezeExcite(max_mid) if with_se else None
        self.project_conv = DynamicConv2d(max_mid, max_out)
        self.project_bn = DynamicBatchNorm2d(max_out)

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        c_out: int,
        kernel: int,
        expand: int,
        act: str,
        se: bool,
        gate: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The block's output; ``gate`` (when given) scales the residual branch only."""
        c_in = x.shape[1]
        fn = ACTIVATIONS[act]
        out = x
        if expand != 1:
            assert self.expand_conv is not None and self.expand_bn is not None
            out = fn(self.expand_bn(self.expand_conv(out, c_out=c_in * expand)))
        out = fn(self.dw_bn(self.dw_conv(out, kernel=kernel)))
        if se:
            assert self.se is not None
            out = self.se(out)
        out = self.project_bn(self.project_conv(out, c_out=c_out))
        if gate is not None:
            out = out * gate
        return x + out if self.stride == 1 and c_in == c_out else out

    def copy_to(
        self, block: MBConvBlock, c_in: int, c_out: int, kernel: int, expand: int, se: bool
    ) -> None:
        """Copy the weights of one configuration into the standalone ``block``."""
        layers = iter(block.body)
        mid = c_in * expand
        if expand != 1:
            assert self.expand_conv is not None and self.expand_bn is not None
            layer = next(layers)
            copy_conv(self.expand_conv, layer[0], c_in, mid)  # type: ignore[index]
            copy_bn(self.expand_bn, layer[1])  # type: ignore[index]
        layer = next(layers)
        copy_conv(self.dw_conv, layer[0], mid, mid, kernel)  # type: ignore[index]
        copy_bn(self.dw_bn, layer[1])  # type: ignore[index]
        if se:
            assert self.se is not None
            copy_se(self.se, next(layers), mid)
        layer = next(layers)
        copy_conv(self.project_conv, layer[0], mid, c_out)  # type: ignore[index]
        copy_bn(self.project_bn, layer[1])  # type: ignore[index]


class MBConvSupernet(Supernet):
    """The supernet of an :class:`~hwnas.spaces.MBConvSpace` (see the module docstring).

    Args:
        space: The ``mbconv`` space.
        input_shape: ``(C, H, W)`` of one input; sets the stride plan.
        num_classes: Number of output logits.
        dropout: Dropout before the classifier (as in
            :class:`~hwnas.spaces.mbconv.model.MBConvNet`).
    """

    space: MBConvSpace
    gated = True

    def __init__(
        self,
        space: MBConvSpace,
        input_shape: tuple[int, int, int],
        num_classes: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(space, input_shape, num_classes)
        stem_stride, strides = plan_strides(space, input_shape[1], input_shape[2])
        self.stem = ConvBNAct(input_shape[0], space.stem_channels, 3, stem_stride, act="hswish")
        with_expand = any(e != 1 for e in space.expands)
        with_se = True in space.se
        c_in = space.stem_channels
        stages = []
        for base, stride in zip(space.stage_channels, strides, strict=True):
            c_out = max(make_divisible(base * w) for w in space.widths)
            slots = []
            for slot in range(space.max_depth):
                slots.append(
                    DynamicMBConvBlock(
                        c_in,
                        c_out,
                        max(space.expands),
                        max(space.kernels),
                        stride if slot == 0 else 1,
                        with_expand,
                        with_se,
                    )
                )
                c_in = c_out
            stages.append(nn.ModuleList(slots))
        self.stages = nn.ModuleList(stages)
        self.head_conv = DynamicConv2d(c_in, space.head_channels)
        self.head_bn = nn.BatchNorm2d(space.head_channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(space.head_channels, num_classes)
        init_weights(self)
        # Zero-initialised last batch norm in residual blocks (every slot after a stage's
        # first): each subnet starts as its shallowest version, which makes sandwich
        # training of deep subnets much faster (BigNAS).
        for stage_slots in self.stages:
            for residual in list(cast(nn.ModuleList, stage_slots))[1:]:
                nn.init.zeros_(cast(DynamicMBConvBlock, residual).project_bn.weight)

    def path(self, arch: MBConvArch) -> list[tuple[DynamicMBConvBlock, MBBlock, MBStage, int]]:
        """The block slots ``arch`` runs: ``(slot, block, its stage, output channels)``."""
        out = []
        for stage, slots, base in zip(
            arch.stages, self.stages, self.space.stage_channels, strict=True
        ):
            c_out = stage_channels(stage, base)
            for block, slot in zip(stage.blocks, cast(nn.ModuleList, slots), strict=False):
                assert isinstance(slot, DynamicMBConvBlock)
                out.append((slot, block, stage, c_out))
        return out

    def forward_arch(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        assert isinstance(arch, MBConvArch)
        x = self.stem(x)
        # Genes per stage: depth, width, activation, SE, then (kernel, expand) per slot.
        per_stage = 4 + 2 * self.space.max_depth
        stages = zip(arch.stages, self.stages, self.space.stage_channels, strict=True)
        for s, (stage, slots, base) in enumerate(stages):
            c_out, g = stage_channels(stage, base), s * per_stage
            for i, (block, slot) in enumerate(
                zip(stage.blocks, cast(nn.ModuleList, slots), strict=False)
            ):
                branch = self.gate_value((g + 1, g + 2, g + 3, g + 4 + 2 * i, g + 5 + 2 * i))
                x = slot(x, c_out, block.kernel, block.expand, stage.act, stage.se, branch)
            x = self.gate(x, (g,))
        x = F.hardswish(self.head_bn(self.head_conv(x)))
        return self.classifier(self.dropout(torch.flatten(self.pool(x), 1)))

    def extract(self, arch: Arch) -> MBConvNet:
        arch = self.check_arch(arch)
        assert isinstance(arch, MBConvArch)
        model = self._standalone(arch)
        assert isinstance(model, MBConvNet)
        model.stem.load_state_dict(self.stem.state_dict())
        blocks = iter(model.blocks)
        c_in = self.space.stem_channels
        for slot, block, stage, c_out in self.path(arch):
            target = next(blocks)
            assert isinstance(target, MBConvBlock)
            slot.copy_to(target, c_in, c_out, block.kernel, block.expand, stage.se)
            c_in = c_out
        copy_conv(self.head_conv, model.head[0], c_in, self.space.head_channels)  # type: ignore[arg-type]
        model.head[1].load_state_dict(self.head_bn.state_dict())
        model.classifier.load_state_dict(self.classifier.state_dict())
        return model
