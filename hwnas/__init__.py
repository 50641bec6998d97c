"""hwnas: multi-objective, hardware-aware neural architecture search."""

from hwnas.errors import ArchError, ConfigError, DataError, HwnasError
from hwnas.spaces import Arch, SearchSpace, create_space, list_spaces, register_space

__version__ = "0.1.0"

__all__ = [
    "Arch",
    "ArchError",
    "ConfigError",
    "DataError",
    "HwnasError",
    "SearchSpace",
    "__version__",
    "create_space",
    "list_spaces",
    "register_space",
]
