"""``mnist:PATH``: the four MNIST IDX files, raw or gzipped.

``PATH`` holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (also ``train-images.idx3-ubyte``
spellings, each optionally ``.gz``), directly or in ``raw/``, ``MNIST/raw/`` or
``FashionMNIST/raw/`` as torchvision stores them. The ``t10k`` files are the test split.
Fashion-MNIST and KMNIST use the same layout.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from hwnas.data.raw import RawData, check_pixels
from hwnas.data.readers.base import PathReader, folder_holds, register_reader
from hwnas.errors import DataError

__all__ = ["MnistReader"]

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@register_reader("mnist")
class MnistReader(PathReader):
    """Reads an MNIST-layout folder; detected by its image files or torchvision's folders."""

    description = "an MNIST IDX directory"
    list_order = 40
    detect_order = 20

    def detect(self, path: Path) -> bool:
        """Whether folder ``path`` holds MNIST image files, directly or in a ``raw`` folder."""
        return folder_holds(path, ("train-images", "t10k-images")) or _raw_dir(path) is not None

    def read(self, path: Path, image_size: tuple[int, int] | None) -> RawData:
        """Read the four IDX files; images get one channel."""
        del image_size
        if not path.is_dir():
            raise DataError(f"{path}: expected a directory with MNIST IDX files, got a file")
        root = path if _find_idx(path, _FILES["train_images"]) else _raw_dir(path) or path
        files = {key: _find_idx(root, stem) for key, stem in _FILES.items()}
        missing = [_FILES[k] for k, v in files.items() if v is None]
        if missing:
            raise DataError(
                f"{root}: missing MNIST file(s) {', '.join(missing)} (raw or .gz); needs "
                f"{', '.join(_FILES.values())}"
            )
        arrays: dict[str, np.ndarray] = {}
        for key, file in files.items():
            assert file is not None
            arrays[key] = read_idx(file, 3 if key.endswith("images") else 1)
        for part in ("train", "test"):
            n_img, n_lab = len(arrays[f"{part}_images"]), len(arrays[f"{part}_labels"])
            if n_img != n_lab:
                raise DataError(
                    f"{root}: {files[f'{part}_images']} has {n_img} images but "
                    f"{files[f'{part}_labels']} has {n_lab} labels; they must match"
                )
        for key in ("train_images", "test_images"):
            check_pixels(arrays[key], str(files[key]), "images")
        return RawData.from_arrays(
            str(path),
            arrays["train_images"][:, None],
            arrays["train_labels"],
            None,
            arrays["test_images"][:, None],
            arrays["test_labels"],
        )


def _raw_dir(path: Path) -> Path | None:
    for sub in ("raw", "MNIST/raw", "FashionMNIST/raw"):
        d = path / sub
        if folder_holds(d, ("train-images",)):
            return d
    return None


def _find_idx(root: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file (raw or gzipped) holding an array of ``ndim`` dims.

    Raises:
        DataError: The file cannot be read, has a bad magic number, the wrong number of
            dims, or a size that does not match its header.
    """
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read (corrupt or truncated gzip?): {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(
            f"{path}: bad IDX magic number {data[:4].hex() or 'empty'} (expected 0000 08 "
            f"{ndim:02x} for an MNIST file)"
        )
    if data[3] != ndim:
        raise DataError(f"{path}: IDX file has {data[3]} dims, expected {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = math.prod(dims)
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(
            f"{path}: IDX file {what}: {len(data)} bytes, expected {expected} for dims {dims}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)
