"""What a dataset reader is, the reader registry, and how a spec finds its reader.

A reader decodes one source format into :class:`~hwnas.data.raw.RawData`; everything after
that (splits, scaling, normalisation, fingerprint) is shared. There are two kinds:

* :class:`PathReader`: reads a file or folder. A spec names it with a ``NAME:PATH`` prefix,
  and a bare path is offered to every path reader's :meth:`PathReader.detect` in increasing
  :attr:`PathReader.detect_order` until one claims it.
* :class:`BuiltinReader`: a dataset that ships with a package; the spec is its name alone.

Readers register themselves with :func:`register_reader`; error messages that list what a
spec may be are built from the registry, so a new format is one module and its import in
:mod:`hwnas.data.readers`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from hwnas.data.raw import RawData
from hwnas.errors import DataError
from hwnas.registry import Registry

__all__ = [
    "READERS",
    "BuiltinReader",
    "PathReader",
    "Reader",
    "accepted_sources",
    "builtin_reader",
    "detect_reader",
    "folder_holds",
    "list_readers",
    "path_reader",
    "path_reader_names",
    "register_reader",
]


class Reader:
    """Common base of :class:`PathReader` and :class:`BuiltinReader`.

    Readers hold no state: the registry builds one with no arguments whenever it is needed.
    """

    #: The registered name: the spec of a built-in dataset, the prefix of a path format.
    name: ClassVar[str] = ""


class PathReader(Reader, abc.ABC):
    """A reader of a file or folder, named in a spec as ``NAME:PATH``."""

    #: How error messages describe the source, e.g. ``"a .npz file"``.
    description: ClassVar[str] = ""
    #: Where messages that list the accepted sources put this one (ascending; ties: by name).
    list_order: ClassVar[int] = 50
    #: Bare paths are offered to readers in increasing order (ties: by name); a reader that
    #: claims almost any folder, like ``imagefolder``, takes a high number so it comes last.
    detect_order: ClassVar[int] = 50

    @abc.abstractmethod
    def detect(self, path: Path) -> bool:
        """Whether the existing file or folder ``path`` looks like this format."""

    @abc.abstractmethod
    def read(self, path: Path, image_size: tuple[int, int] | None) -> RawData:
        """Read the existing file or folder ``path``.

        Args:
            path: The source, known to exist.
            image_size: The ``(height, width)`` every image will be resized to, or ``None``.
                Resizing happens after reading; a reader may use it (an image folder
                resizes while decoding images of different sizes) or ignore it.

        Raises:
            DataError: The source is malformed; the message names the file.
        """


class BuiltinReader(Reader, abc.ABC):
    """A dataset shipped with a package (no file), named in a spec by its name alone."""

    @abc.abstractmethod
    def read(self, image_size: tuple[int, int] | None) -> RawData:
        """Read the dataset; ``image_size`` as in :meth:`PathReader.read`."""


READERS: Registry[Reader] = Registry("dataset format")

R = TypeVar("R", bound=Reader)


def register_reader(name: str) -> Callable[[type[R]], type[R]]:
    """Class decorator registering a :class:`PathReader` or :class:`BuiltinReader` as ``name``."""

    def decorator(cls: type[R]) -> type[R]:
        cls.name = name
        READERS.register(name)(cls)
        return cls

    return decorator


def list_readers() -> list[str]:
    """The names of the registered readers, sorted."""
    return READERS.names()


def builtin_reader(spec: str) -> BuiltinReader | None:
    """The built-in dataset named ``spec``, or ``None`` when ``spec`` names none."""
    reader = READERS.create(spec) if spec in READERS else None
    return reader if isinstance(reader, BuiltinReader) else None


def path_reader(name: str) -> PathReader | None:
    """The path format registered as ``name``, or ``None`` when there is none."""
    reader = READERS.create(name) if name in READERS else None
    return reader if isinstance(reader, PathReader) else None


def _path_readers() -> list[PathReader]:
    readers = [r for r in map(path_reader, READERS.names()) if r is not None]
    return sorted(readers, key=lambda r: (r.detect_order, r.name))


def _listed_path_readers() -> list[PathReader]:
    return sorted(_path_readers(), key=lambda r: (r.list_order, r.name))


def path_reader_names() -> tuple[str, ...]:
    """The prefixes a spec may name a path format with, in the order messages list them."""
    return tuple(r.name for r in _listed_path_readers())


def detect_reader(path: Path) -> PathReader:
    """The first path reader (in detection order) that claims the existing ``path``.

    Raises:
        DataError: No reader recognises ``path``.
    """
    for reader in _path_readers():
        if reader.detect(path):
            return reader
    raise DataError(f"{path}: unknown dataset format (expected {accepted_sources()})")


def folder_holds(path: Path, prefixes: tuple[str, ...]) -> bool:
    """Whether ``path`` is a folder with an entry whose name starts with one of ``prefixes``.

    The usual test of a :meth:`PathReader.detect` for formats known by their file names.
    """
    return path.is_dir() and any(p.name.startswith(prefixes) for p in path.iterdir())


def accepted_sources() -> str:
    """What a spec may be, in words, for error messages.

    For example ``'digits', a .npz file (npz:PATH) or an image folder (imagefolder:PATH)``.
    """
    builtins = [f"'{name}'" for name in READERS.names() if builtin_reader(name) is not None]
    paths = [f"{r.description} ({r.name}:PATH)" for r in _listed_path_readers()]
    items = builtins + paths
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
