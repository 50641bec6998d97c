"""The ``mbconv`` space: MobileNetV2/V3 and Once-for-All style networks, as one plugin.

``arch`` (architectures and the stride plan), ``space`` (the registered
:class:`MBConvSpace`), ``model`` (the network builder), ``supernet`` (the weight-sliced
supernet), ``layers`` (the closed-form operator list) and ``blocks`` (the per-block
latency table). Torch is imported only when a model or supernet is built.
"""

from hwnas.spaces.mbconv.arch import (
    STAGE_STRIDE_MIN_SIZE,
    STEM_STRIDE_MIN_SIZE,
    MBBlock,
    MBConvArch,
    MBStage,
    plan_strides,
    stage_channels,
)
from hwnas.spaces.mbconv.space import MBConvSpace

__all__ = [
    "STAGE_STRIDE_MIN_SIZE",
    "STEM_STRIDE_MIN_SIZE",
    "MBBlock",
    "MBConvArch",
    "MBConvSpace",
    "MBStage",
    "plan_strides",
    "stage_channels",
]
