"""Search spaces: architectures as data, behind a registry."""

from hwnas.spaces.base import Arch, SearchSpace
from hwnas.spaces.mbconv import MBBlock, MBConvArch, MBConvSpace, MBStage
from hwnas.spaces.nb201 import NB201Arch, NB201Space
from hwnas.spaces.registry import SPACES, create_space, list_spaces, register_space

__all__ = [
    "SPACES",
    "Arch",
    "MBBlock",
    "MBConvArch",
    "MBConvSpace",
    "MBStage",
    "NB201Arch",
    "NB201Space",
    "SearchSpace",
    "create_space",
    "list_spaces",
    "register_space",
]
