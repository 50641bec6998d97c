"""The ``convnet`` space: a CNN for small inputs (stem, up to four stages of plain, basic
or MBConv blocks, head), one plugin whose architectures include LeNet-5-like, ResNet-8 and
small MobileNetV2 networks.

``arch`` (architectures and the stride plan), ``space`` (the registered
:class:`ConvNetSpace`), ``model`` (the network builder), ``supernet`` (the weight-sliced
supernet) and ``layers`` (the closed-form operator list). Torch is imported only when a
model or supernet is built.
"""

from hwnas.spaces.convnet.arch import BLOCK_TYPES, ConvNetArch, Head, Stage, Stem, plan_strides
from hwnas.spaces.convnet.space import BASELINES, ConvNetSpace

__all__ = [
    "BASELINES",
    "BLOCK_TYPES",
    "ConvNetArch",
    "ConvNetSpace",
    "Head",
    "Stage",
    "Stem",
    "plan_strides",
]
