"""Search spaces: architectures as data, behind a registry.

Each space is one package (``hwnas/spaces/mbconv/``, ``hwnas/spaces/nb201/``) whose
:class:`SearchSpace` subclass is the space's whole plugin bundle; importing this package
registers the built-in ones.
"""

from hwnas.spaces.base import Arch, SearchSpace
from hwnas.spaces.convnet import ConvNetArch, ConvNetSpace
from hwnas.spaces.mbconv import MBBlock, MBConvArch, MBConvSpace, MBStage
from hwnas.spaces.nb201 import NB201Arch, NB201Space
from hwnas.spaces.registry import SPACES, create_space, list_spaces, register_space
from hwnas.spaces.transformer import TransformerArch, TransformerSpace

__all__ = [
    "SPACES",
    "Arch",
    "ConvNetArch",
    "ConvNetSpace",
    "MBBlock",
    "MBConvArch",
    "MBConvSpace",
    "MBStage",
    "NB201Arch",
    "NB201Space",
    "SearchSpace",
    "TransformerArch",
    "TransformerSpace",
    "create_space",
    "list_spaces",
    "register_space",
]
