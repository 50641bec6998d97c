"""``cifar10:PATH``: the CIFAR-10 python batches or the binary version.

``PATH`` holds ``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` (python pickles, read
with :mod:`~hwnas.data.readers.safe_pickle`) or ``data_batch_1.bin`` ... ``test_batch.bin``,
directly or in a ``cifar-10-batches-py`` / ``cifar-10-batches-bin`` sub-folder as the
archives unpack. ``test_batch`` is the test split. Class names come from ``batches.meta``
(``batches.meta.txt``) when present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwnas.data.raw import RawData
from hwnas.data.readers.base import PathReader, folder_holds, register_reader
from hwnas.data.readers.safe_pickle import load_numpy_pickle
from hwnas.errors import DataError

__all__ = ["CIFAR10_CLASSES", "Cifar10Reader"]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]


@register_reader("cifar10")
class Cifar10Reader(PathReader):
    """Reads a CIFAR-10 folder; detected by its batch files or its unpacked sub-folder."""

    description = "a CIFAR-10 directory"
    list_order = 30
    detect_order = 30

    def detect(self, path: Path) -> bool:
        """Whether folder ``path`` holds CIFAR-10 batches or a ``cifar-10-batches-*`` folder."""
        return folder_holds(path, ("data_batch_", "test_batch")) or _batches_dir(path) is not None

    def read(self, path: Path, image_size: tuple[int, int] | None) -> RawData:
        """Read all six batches (50,000 train and 10,000 test images of 3x32x32)."""
        del image_size
        if not path.is_dir():
            raise DataError(f"{path}: expected a CIFAR-10 directory, got a file")
        root = path
        if not any(root.glob("data_batch_*")) and not any(root.glob("test_batch*")):
            root = _batches_dir(path) or path
        if (root / "data_batch_1.bin").is_file() or (root / "test_batch.bin").is_file():
            names = [n + ".bin" for n in [*_TRAIN_BATCHES, "test_batch"]]
            missing = [n for n in names if not (root / n).is_file()]
            if missing:
                raise DataError(
                    f"{root}: CIFAR-10 binary version is missing {', '.join(missing)} (needs "
                    f"data_batch_1.bin ... data_batch_5.bin and test_batch.bin)"
                )
            parts = [_bin_batch(root / n) for n in names]
            classes = _bin_meta(root / "batches.meta.txt")
        else:
            names = [*_TRAIN_BATCHES, "test_batch"]
            missing = [n for n in names if not (root / n).is_file()]
            if missing:
                raise DataError(
                    f"{root}: CIFAR-10 directory is missing batch(es) {', '.join(missing)} (needs "
                    f"the python batches data_batch_1 ... data_batch_5 and test_batch, or the "
                    f"binary version data_batch_1.bin ... test_batch.bin)"
                )
            parts = [_py_batch(root / n) for n in names]
            classes = _py_meta(root / "batches.meta")
        x = np.concatenate([p[0] for p in parts[:5]])
        y = np.concatenate([p[1] for p in parts[:5]])
        return RawData.from_arrays(str(path), x, y, classes, parts[5][0], parts[5][1])


def _batches_dir(path: Path) -> Path | None:
    for sub in ("cifar-10-batches-py", "cifar-10-batches-bin"):
        if (path / sub).is_dir():
            return path / sub
    return None


def _get(d: dict[Any, Any], key: str) -> Any:
    """``d[key]`` with a bytes key (as the batches are pickled) or else a str key."""
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def _py_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = load_numpy_pickle(path, "CIFAR-10 python batch")
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a dict with data and labels, got {type(batch)}")
    data = _get(batch, "data")
    labels = _get(batch, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise DataError(f"{path}: data must be a uint8 array of shape (N, 3072)")
    if data.ndim == 2 and data.shape[1] == 3072:
        data = data.reshape(-1, 3, 32, 32)
    if data.ndim != 4 or data.shape[1:] != (3, 32, 32):
        raise DataError(f"{path}: data must have shape (N, 3072), got {data.shape}")
    if labels is None:
        raise DataError(f"{path}: missing labels")
    try:
        y = np.asarray(labels)
    except Exception as exc:
        raise DataError(f"{path}: labels must be a list of integers") from exc
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{path}: labels must be a list of integers")
    if len(y) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(y)} labels; they must match")
    return data, y.astype(np.int64)


def _py_meta(path: Path) -> list[str]:
    if not path.is_file():
        return list(CIFAR10_CLASSES)
    meta = load_numpy_pickle(path, "CIFAR-10 python batch")
    names = _get(meta, "label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{path}: expected a dict with label_names, a list of strings")
    return [n.decode() if isinstance(n, bytes) else n for n in names]


def _bin_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.fromfile(path, dtype=np.uint8)
    record = 1 + 3072
    if data.size == 0 or data.size % record:
        raise DataError(
            f"{path}: truncated or malformed CIFAR-10 binary batch: {data.size} bytes is not a "
            f"multiple of {record} (1 label byte + 3072 pixel bytes per image)"
        )
    rows = data.reshape(-1, record)
    return np.ascontiguousarray(rows[:, 1:]).reshape(-1, 3, 32, 32), rows[:, 0].astype(np.int64)


def _bin_meta(path: Path) -> list[str]:
    if not path.is_file():
        return list(CIFAR10_CLASSES)
    names = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    return [n for n in names if n]
