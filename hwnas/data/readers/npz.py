"""``npz:PATH``: a NumPy ``.npz`` file, read with ``allow_pickle=False``.

Arrays: ``x`` (images ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``) and ``y``
(labels); optionally ``x_test`` / ``y_test`` for a fixed test split and ``classes`` (a 1-D
array of strings) for class names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwnas.data.raw import RawData, check_pixels
from hwnas.data.readers.base import PathReader, register_reader
from hwnas.errors import DataError


@register_reader("npz")
class NpzReader(PathReader):
    """Reads a ``.npz`` file; a bare path ending in ``.npz`` is detected as one."""

    description = "a .npz file"
    list_order = 10
    detect_order = 10

    def detect(self, path: Path) -> bool:
        """Whether ``path`` is a file named ``*.npz`` (any case)."""
        return path.is_file() and path.suffix.lower() == ".npz"

    def read(self, path: Path, image_size: tuple[int, int] | None) -> RawData:
        """Read ``x``, ``y`` and the optional arrays; images are resized later."""
        del image_size
        if not path.is_file():
            raise DataError(f"{path}: expected a .npz file, got a directory")
        arrays = _load_arrays(path)
        where = str(path)
        x = _layout(arrays["x"], where, "x")
        x_test = _layout(arrays["x_test"], where, "x_test") if "x_test" in arrays else None
        classes: list[str] | None = None
        if "classes" in arrays:
            names = arrays["classes"]
            if names.ndim != 1 or names.dtype.kind not in "US":
                raise DataError(f"{where}: classes must be a 1-D array of strings")
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
            for field in ("y", "y_test"):
                if field in arrays:
                    _check_names_cover(classes, arrays[field], where, field)
        return RawData.from_arrays(where, x, arrays["y"], classes, x_test, arrays.get("y_test"))


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the archive that the format knows, every failure as a DataError."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):
                raise DataError(f"{path}: expected a .npz archive with arrays x and y")
            files = set(npz.files)
            missing = [k for k in ("x", "y") if k not in files]
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(missing)}; a .npz dataset needs x "
                    f"(images) and y (labels), found {sorted(files)}"
                )
            if ("x_test" in files) != ("y_test" in files):
                raise DataError(f"{path}: x_test and y_test must be given together")
            return {k: npz[k] for k in ("x", "y", "x_test", "y_test", "classes") if k in files}
    except DataError:
        raise
    except AttributeError:
        raise DataError(f"{path}: expected a .npz archive with arrays x and y") from None
    except Exception as exc:  # OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile...
        raise DataError(f"{path}: cannot read as .npz: {exc}") from exc


def _check_names_cover(classes: list[str], y: np.ndarray, where: str, field: str) -> None:
    """Blame ``classes`` when it names fewer classes than the labels in ``field`` need.

    The shared label check would report the labels as out of range, pointing at ``y``
    when the short array is ``classes``. Labels that are not integers are left to it.
    """
    if y.size == 0 or y.dtype.kind not in "iuf" or not np.all(np.isfinite(y)):
        return
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        return
    lo, hi = int(y.min()), int(y.max())
    if lo >= 0 and hi >= len(classes):
        raise DataError(
            f"{where}: classes: {len(classes)} names for labels {lo}..{hi} ({field}); expected "
            f"one name per label, at least {hi + 1}"
        )


def _layout(x: np.ndarray, where: str, field: str) -> np.ndarray:
    """Bring ``x`` to ``(N, C, H, W)`` from ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``."""
    check_pixels(x, where, field)
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[3] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x
    raise DataError(
        f"{where}: {field} must have 3 dims (N, H, W) or 4 dims (N, C, H, W) / (N, H, W, C), "
        f"got shape {x.shape}"
    )
