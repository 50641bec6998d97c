"""Layers whose active size is chosen per forward pass, by weight slicing (Once-for-All).

Each layer holds the weights of its largest configuration; a smaller one uses the first
``k`` output / input channels and, for depthwise convolutions, the centre crop of the
largest kernel. The layers subclass their ``torch.nn`` counterparts so that weight
initialisation and :func:`hwnas.nn.recalibrate_batchnorm` treat them like ordinary ones.
The ``copy_to_*`` helpers write the active slice into a standalone layer of the same kind.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.spaces.base import make_divisible


class DynamicConv2d(nn.Conv2d):
    """A convolution sliced to the input's channels, ``c_out`` outputs and ``kernel``.

    Args:
        max_in: Largest number of input channels.
        max_out: Largest number of output channels (ignored when depthwise: ``max_in``).
        kernel: Largest (odd) kernel size; smaller kernels are its centre crop.
        stride: Stride.
        depthwise: One filter per channel (``groups`` equal to the active channels).
        bias: Whether the convolution has a bias.
    """

    def __init__(
        self,
        max_in: int,
        max_out: int,
        kernel: int = 1,
        stride: int = 1,
        depthwise: bool = False,
        bias: bool = False,
    ) -> None:
        if depthwise:
            max_out = max_in
        groups = max_in if depthwise else 1
        super().__init__(max_in, max_out, kernel, stride, kernel // 2, groups=groups, bias=bias)
        self.depthwise = depthwise

    def active_weight(self, c_in: int, c_out: int, kernel: int | None = None) -> torch.Tensor:
        """The weight of the ``c_in`` -> ``c_out`` convolution with a ``kernel`` kernel."""
        k = self.kernel_size[0] if kernel is None else kernel
        start = (self.kernel_size[0] - k) // 2
        weight = self.weight[:c_out] if self.depthwise else self.weight[:c_out, :c_in]
        return weight[:, :, start : start + k, start : start + k]

    def active_bias(self, c_out: int) -> torch.Tensor | None:
        """The bias of ``c_out`` outputs (``None`` without a bias)."""
        return None if self.bias is None else self.bias[:c_out]

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        c_out: int | None = None,
        kernel: int | None = None,
        stride: int | None = None,
    ) -> torch.Tensor:
        """``x`` through the active slice; ``stride`` overrides the layer's own (for
        spaces where a block's stride is a choice)."""
        c_in = x.shape[1]
        if self.depthwise:
            c_out = c_in
        elif c_out is None:
            c_out = self.out_channels
        k = self.kernel_size[0] if kernel is None else kernel
        return F.conv2d(
            x,
            self.active_weight(c_in, c_out, k),
            self.active_bias(c_out),
            self.stride if stride is None else stride,
            k // 2,
            1,
            c_in if self.depthwise else 1,
        )


class DynamicBatchNorm2d(nn.BatchNorm2d):
    """Batch norm over the first ``C`` channels of its input (running statistics sliced).

    Follows :class:`torch.nn.BatchNorm2d` exactly, ``momentum=None`` (cumulative average,
    used by batch-norm recalibration) included.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        factor = 0.0
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = (
                1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            )
        use_batch_stats = self.training or self.running_mean is None
        mean = None if self.running_mean is None else self.running_mean[:c]
        var = None if self.running_var is None else self.running_var[:c]
        return F.batch_norm(
            x,
            mean if not self.training or self.track_running_stats else None,
            var if not self.training or self.track_running_stats else None,
            self.weight[:c],
            self.bias[:c],
            use_batch_stats,
            factor,
            self.eps,
        )


class DynamicSqueezeExcite(nn.Module):
    """Squeeze-excite over the input's channels (hidden width ``make_divisible(C / 4)``).

    Matches :class:`hwnas.spaces.mbconv.model.SqueezeExcite` for every active channel count.
    """

    def __init__(self, max_channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.reduction = reduction
        hidden = max_hidden(max_channels, reduction)
        self.reduce = DynamicConv2d(max_channels, hidden, bias=True)
        self.act = nn.ReLU()
        self.expand = DynamicConv2d(hidden, max_channels, bias=True)
        self.gate = nn.Hardsigmoid()

    def hidden(self, channels: int) -> int:
        """The hidden width for ``channels`` active channels."""
        return make_divisible(channels / self.reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        scale = x.mean((2, 3), keepdim=True)
        hidden = self.act(self.reduce(scale, c_out=self.hidden(c)))
        return x * self.gate(self.expand(hidden, c_out=c))


class DynamicLinear(nn.Linear):
    """A fully connected layer sliced to the input's features and ``c_out`` outputs."""

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:  # type: ignore[override]
        c_out = self.out_features if c_out is None else c_out
        bias = None if self.bias is None else self.bias[:c_out]
        return F.linear(x, self.weight[:c_out, : x.shape[1]], bias)


def max_hidden(max_channels: int, reduction: int = 4) -> int:
    """The largest squeeze-excite hidden width over ``1..max_channels`` active channels."""
    return max(make_divisible(c / reduction) for c in range(1, max_channels + 1))


# -- copying active slices into standalone layers ------------------------------------------
@torch.no_grad()
def copy_conv(
    src: DynamicConv2d, dst: nn.Conv2d, c_in: int, c_out: int, kernel: int | None = None
) -> None:
    """Copy the active slice of ``src`` into the standalone convolution ``dst``."""
    dst.weight.copy_(src.active_weight(c_in, c_out, kernel))
    bias = src.active_bias(c_out)
    if dst.bias is not None and bias is not None:
        dst.bias.copy_(bias)


@torch.no_grad()
def copy_bn(src: nn.BatchNorm2d, dst: nn.BatchNorm2d) -> None:
    """Copy the first ``dst.num_features`` channels of ``src`` (parameters and statistics)."""
    c = dst.num_features
    for name in ("weight", "bias", "running_mean", "running_var"):
        target = getattr(dst, name)
        source = getattr(src, name)
        if target is not None and source is not None:
            target.copy_(source[:c])
    if dst.num_batches_tracked is not None and src.num_batches_tracked is not None:
        dst.num_batches_tracked.copy_(src.num_batches_tracked)


@torch.no_grad()
def copy_se(src: DynamicSqueezeExcite, dst: nn.Module, channels: int) -> None:
    """Copy the active slice of ``src`` into a :class:`hwnas.spaces.mbconv.model.SqueezeExcite`."""
    hidden = src.hidden(channels)
    copy_conv(src.reduce, dst.reduce, channels, hidden)  # type: ignore[arg-type]
    copy_conv(src.expand, dst.expand, hidden, channels)  # type: ignore[arg-type]


@torch.no_grad()
def copy_linear(src: nn.Linear, dst: nn.Linear) -> None:
    """Copy the first ``dst.out_features`` x ``dst.in_features`` slice of ``src``."""
    dst.weight.copy_(src.weight[: dst.out_features, : dst.in_features])
    if dst.bias is not None and src.bias is not None:
        dst.bias.copy_(src.bias[: dst.out_features])
