"""The ``convnet`` supernet: every block slot holds a plain, a basic and an MBConv block.

Once-for-All style weight slicing (:mod:`hwnas.nn.supernet.dynamic`): each stage has
``max(depths)`` slots and a subnet runs the first ``depth`` of them, in each slot only the
block of its stage's type. A smaller kernel is the centre crop of the largest one, fewer
channels (width, expand ratio, stem, head, hidden layer) are the first ones. A stage's
stride is a choice, so slot convolutions take it per call. The stem and the classifiers
are shared by every subnet (one classifier after pooling, one after the hidden layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.nn.supernet.base import Supernet
from hwnas.nn.supernet.dynamic import (
    DynamicBatchNorm2d,
    DynamicConv2d,
    DynamicLinear,
    copy_bn,
    copy_conv,
    copy_linear,
)
from hwnas.spaces.base import Arch
from hwnas.spaces.convnet.arch import ConvNetArch, Stage, plan_strides, stem_stride
from hwnas.spaces.convnet.model import BasicBlock, ConvNetNet, init_hidden
from hwnas.spaces.mbconv.model import MBConvBlock, init_weights
from hwnas.spaces.mbconv.supernet import DynamicMBConvBlock

if TYPE_CHECKING:
    from hwnas.spaces.convnet.space import ConvNetSpace


class DynamicConvBN(nn.Module):
    """Conv (no bias) -> batch norm, both sliced; copies into a conv-BN(-act) sequence."""

    def __init__(self, max_in: int, max_out: int, max_kernel: int = 1) -> None:
        super().__init__()
        self.conv = DynamicConv2d(max_in, max_out, max_kernel)
        self.bn = DynamicBatchNorm2d(max_out)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, c_out: int, kernel: int | None = None, stride: int = 1
    ) -> torch.Tensor:
        return self.bn(self.conv(x, c_out=c_out, kernel=kernel, stride=stride))

    def copy_to(self, target: nn.Module, c_in: int, c_out: int, kernel: int | None = None) -> None:
        """Copy the active slice into ``target[0]`` (a convolution) and ``target[1]`` (BN)."""
        copy_conv(self.conv, target[0], c_in, c_out, kernel)  # type: ignore[index]
        copy_bn(self.bn, target[1])  # type: ignore[index]


class DynamicBasicBlock(nn.Module):
    """A ResNet basic block of any width and kernel (a projection shortcut when the first
    block of a stage changes the shape)."""

    def __init__(self, max_in: int, max_out: int, max_kernel: int, with_shortcut: bool) -> None:
        super().__init__()
        self.first = DynamicConvBN(max_in, max_out, max_kernel)
        self.second = DynamicConvBN(max_out, max_out, max_kernel)
        self.shortcut = DynamicConvBN(max_in, max_out) if with_shortcut else None

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, c_out: int, kernel: int, stride: int
    ) -> torch.Tensor:
        out = self.second(F.relu(self.first(x, c_out, kernel, stride)), c_out, kernel)
        if stride != 1 or x.shape[1] != c_out:
            assert self.shortcut is not None
            return F.relu(out + self.shortcut(x, c_out, stride=stride))
        return F.relu(out + x)

    def copy_to(self, block: BasicBlock, c_in: int, c_out: int, kernel: int) -> None:
        """Copy one configuration's weights into the standalone ``block``."""
        self.first.copy_to(block.body[0:2], c_in, c_out, kernel)
        self.second.copy_to(block.body[3:5], c_out, c_out, kernel)
        if self.shortcut is not None and isinstance(block.shortcut, nn.Sequential):
            self.shortcut.copy_to(block.shortcut, c_in, c_out)


class StridedMBConvBlock(DynamicMBConvBlock):
    """``mbconv``'s sliced inverted residual (ReLU, no squeeze-excite) with the stride
    chosen per call: the depthwise convolution and the residual test read ``stride``."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, c_out: int, kernel: int, expand: int, stride: int
    ) -> torch.Tensor:
        self.stride = stride
        self.dw_conv.stride = (stride, stride)
        return super().forward(x, c_out, kernel, expand, "relu", False)


class BlockSlot(nn.Module):
    """One block position: a plain, a basic and an MBConv block; a subnet runs one."""

    def __init__(self, space: ConvNetSpace, max_in: int, first: bool) -> None:
        super().__init__()
        max_out, max_kernel = max(space.widths), max(space.kernels)
        self.plain = DynamicConvBN(max_in, max_out, max_kernel)
        self.basic = DynamicBasicBlock(max_in, max_out, max_kernel, with_shortcut=first)
        with_expand = any(e != 1 for e in space.expands)
        self.mbconv = StridedMBConvBlock(
            max_in, max_out, max(space.expands), max_kernel, 1, with_expand, False
        )

    def forward(self, x: torch.Tensor, stage: Stage, stride: int) -> torch.Tensor:  # type: ignore[override]
        c, k = stage.channels, stage.kernel
        if stage.block == "plain":
            return F.relu(self.plain(x, c, k, stride))
        if stage.block == "basic":
            return cast(torch.Tensor, self.basic(x, c, k, stride))
        return cast(torch.Tensor, self.mbconv(x, c, k, stage.expand, stride))

    def copy_to(self, block: nn.Module, stage: Stage, c_in: int) -> None:
        """Copy the weights ``stage``'s block uses into the standalone ``block``."""
        c, k = stage.channels, stage.kernel
        if stage.block == "plain":
            self.plain.copy_to(block, c_in, c, k)
        elif stage.block == "basic":
            assert isinstance(block, BasicBlock)
            self.basic.copy_to(block, c_in, c, k)
        else:
            assert isinstance(block, MBConvBlock)
            self.mbconv.copy_to(block, c_in, c, k, stage.expand, False)

    def zero_residual_branches(self) -> None:
        """Zero the last batch-norm scale of the residual blocks: a deeper subnet starts
        as its shallower version, which speeds up sandwich training (BigNAS)."""
        nn.init.zeros_(self.basic.second.bn.weight)
        nn.init.zeros_(self.mbconv.project_bn.weight)


class ConvNetSupernet(Supernet):
    """The supernet of a :class:`~hwnas.spaces.convnet.ConvNetSpace` (see the module
    docstring).

    Args:
        space: The ``convnet`` space.
        input_shape: ``(C, H, W)`` of one input; sets the stem stride and which stage
            strides are kept.
        num_classes: Number of output logits.
    """

    space: ConvNetSpace
    gated = True

    def __init__(
        self, space: ConvNetSpace, input_shape: tuple[int, int, int], num_classes: int
    ) -> None:
        super().__init__(space, input_shape, num_classes)
        max_stem, max_width = max(space.stem_channels), max(space.widths)
        self.stem = DynamicConvBN(input_shape[0], max_stem, max(space.stem_kernels))
        self.stem_stride = stem_stride(*input_shape[1:])
        stages = []
        for s in range(space.num_stages):
            max_in = max_stem if s == 0 else max_width
            slots = [BlockSlot(space, max_in, first=True)]
            slots += [BlockSlot(space, max_width, False) for _ in range(1, space.max_depth)]
            stages.append(nn.ModuleList(slots))
        self.stages = nn.ModuleList(stages)
        max_head, max_fc = max(space.head_channels), max(space.fc_hidden)
        self.head = DynamicConvBN(max_width, max_head) if max_head else None
        features = max(max_head, max_width)
        self.hidden = DynamicLinear(features, max_fc) if max_fc else None
        self.classifier = DynamicLinear(features, num_classes)
        self.fc_classifier = DynamicLinear(max_fc, num_classes) if max_fc else None
        init_weights(self)
        init_hidden(self.hidden)
        for stage_slots in self.stages:
            for slot in list(cast(nn.ModuleList, stage_slots))[1:]:
                cast(BlockSlot, slot).zero_residual_branches()

    def path(self, arch: ConvNetArch) -> list[tuple[BlockSlot, Stage, int]]:
        """The block slots ``arch`` runs: ``(slot, its stage, stride)``."""
        _, strides = plan_strides(arch, *self.input_shape[1:])
        out = []
        for stage, slots, stride in zip(arch.present, self.stages, strides, strict=False):
            for i in range(stage.depth):
                slot = cast(nn.ModuleList, slots)[i]
                out.append((cast(BlockSlot, slot), stage, stride if i == 0 else 1))
        return out

    def forward_arch(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        assert isinstance(arch, ConvNetArch)
        stem, head = arch.stem, arch.head
        x = F.relu(self.stem(x, stem.channels, stem.kernel, self.stem_stride))
        # Genes: stem kernel, stem channels; per stage depth, block, width, kernel, expand,
        # stride; head conv, hidden fc. Each decision's output is gated (see Supernet.gate).
        x = self.gate(x, (0, 1))
        per_stage = (self.space.n_dims - 4) // self.space.num_stages
        path = iter(self.path(arch))
        for s, stage in enumerate(arch.present):
            g = 2 + s * per_stage
            genes = (g + 1, g + 2, g + 3, g + 5) + ((g + 4,) if stage.block == "mbconv" else ())
            for _ in range(stage.depth):
                slot, _, stride = next(path)
                x = self.gate(slot(x, stage, stride), genes)
            x = self.gate(x, (g,))
        if len(arch.present) < self.space.num_stages:  # the first absent stage's depth gene
            x = self.gate(x, (2 + len(arch.present) * per_stage,))
        if head.conv:
            assert self.head is not None
            x = F.relu(self.head(x, head.conv))
        x = torch.flatten(F.adaptive_avg_pool2d(self.gate(x, (self.space.n_dims - 2,)), 1), 1)
        if not head.fc:
            logits = cast(torch.Tensor, self.classifier(x))
        else:
            assert self.hidden is not None and self.fc_classifier is not None
            logits = cast(torch.Tensor, self.fc_classifier(F.relu(self.hidden(x, head.fc))))
        return self.gate(logits, (self.space.n_dims - 1,))

    def extract(self, arch: Arch) -> ConvNetNet:
        arch = self.check_arch(arch)
        assert isinstance(arch, ConvNetArch)
        model = self._standalone(arch)
        assert isinstance(model, ConvNetNet)
        stem = arch.stem
        self.stem.copy_to(model.stem, self.input_shape[0], stem.channels, stem.kernel)
        c_in = stem.channels
        for (slot, stage, _), block in zip(self.path(arch), model.blocks, strict=True):
            slot.copy_to(block, stage, c_in)
            c_in = stage.channels
        if model.head is not None:
            assert self.head is not None
            self.head.copy_to(model.head, c_in, arch.head.conv)
        if model.hidden is not None:
            assert self.hidden is not None and self.fc_classifier is not None
            copy_linear(self.hidden, model.hidden)
            copy_linear(self.fc_classifier, model.classifier)
        else:
            copy_linear(self.classifier, model.classifier)
        return model
