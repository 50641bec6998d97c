"""Unpickling of dataset files that admits NumPy arrays and plain containers, nothing else.

Unpickling calls whatever callable a pickle names, so ``pickle.load`` on a downloaded file can
run arbitrary code (``os.system``, ``eval``...). Datasets shipped as pickles (the CIFAR-10
python batches) hold only dicts, lists, bytes and NumPy arrays; :func:`load_numpy_pickle`
rebuilds those and refuses every other global before anything is called.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

from hwnas.errors import DataError

__all__ = ["NumpyOnlyUnpickler", "load_numpy_pickle"]


def _numpy_global(module: str, name: str) -> Any:
    # numpy 2 renamed numpy.core to numpy._core; old pickles name the former, new ones the
    # latter. Resolve either to whichever exists without touching the deprecated alias.
    if module.startswith("numpy.core."):
        candidates = ["numpy._core." + module[len("numpy.core.") :], module]
    elif module.startswith("numpy._core."):
        candidates = [module, "numpy.core." + module[len("numpy._core.") :]]
    else:
        candidates = [module]
    for mod in candidates:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise DataError(f"pickle needs {module}.{name}, which this numpy does not provide")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and plain containers, and nothing else.

    :meth:`find_class` refuses every global outside :attr:`ALLOWED` with a
    :class:`~hwnas.errors.DataError` before anything is called. Plain containers (dict,
    list, str, bytes, int) need no globals.

    * ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``,
      ``numpy.ndarray``, ``numpy.dtype``: arrays pickled with protocols 0-4 (numpy 2 writes
      ``numpy._core``).
    * ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``: contiguous
      arrays pickled with protocol 5, Python's default since 3.8.
    * ``_codecs.encode``: how Python 3 writes ``bytes`` with protocols below 3.
    """

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        """The global ``module.name`` if it is in :attr:`ALLOWED`; else a DataError."""
        if (module, name) not in self.ALLOWED:
            raise DataError(
                f"refusing to unpickle {module}.{name}: only NumPy arrays and plain containers "
                f"are allowed in dataset pickles"
            )
        return _numpy_global(module, name)


def load_numpy_pickle(path: Path, what: str) -> Any:
    """Unpickle ``path`` with :class:`NumpyOnlyUnpickler`; strings stay ``bytes``.

    Args:
        path: The pickle file.
        what: What the file should be, for the message when it is not a valid pickle
            (``"CIFAR-10 python batch"``).

    Raises:
        DataError: The pickle names a refused global, or is not a valid pickle; the message
            starts with ``path``.
    """
    try:
        with path.open("rb") as f:
            return NumpyOnlyUnpickler(f, encoding="bytes").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, TypeError...
        raise DataError(f"{path}: not a valid {what}: {exc}") from exc
