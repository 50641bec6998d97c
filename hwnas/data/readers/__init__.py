"""Dataset readers, one module per source format, behind a registry (see :mod:`.base`).

Importing this package registers every reader; a new format is a module here whose reader
class carries ``@register_reader("NAME")``, plus its name in the import below.
"""

from hwnas.data.readers import (  # noqa: F401  (registration)
    cifar10,
    digits,
    imagefolder,
    mnist,
    npz,
    reviews,
    text,
)
from hwnas.data.readers.base import BuiltinReader, PathReader, Reader, list_readers, register_reader

__all__ = ["BuiltinReader", "PathReader", "Reader", "list_readers", "register_reader"]
