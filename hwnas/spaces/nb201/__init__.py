"""The ``nb201`` space: NAS-Bench-201's cell space, as one plugin.

``arch`` (architectures), ``space`` (the registered :class:`NB201Space`), ``model`` (the
network builder), ``supernet`` (the one-shot supernet) and ``layers`` (the closed-form
operator list). Torch is imported only when a model or supernet is built.
"""

from hwnas.spaces.nb201.arch import EDGES, OPS, NB201Arch
from hwnas.spaces.nb201.space import NB201Space

__all__ = ["EDGES", "OPS", "NB201Arch", "NB201Space"]
