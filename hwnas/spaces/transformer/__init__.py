"""The ``transformer`` space: a HAT-style encoder for sequence classification (token ids)
that also reads images as sequences of pixels.

``arch`` (architectures), ``space`` (the registered :class:`TransformerSpace`), ``model``
(the network builder), ``supernet`` (the weight-sliced super-transformer) and ``layers``
(the closed-form operator list). Torch is imported only when a model or supernet is built.
"""

from hwnas.spaces.transformer.arch import EncoderLayer, TransformerArch
from hwnas.spaces.transformer.space import BASELINES, TransformerSpace

__all__ = ["BASELINES", "EncoderLayer", "TransformerArch", "TransformerSpace"]
