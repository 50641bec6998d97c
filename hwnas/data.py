"""Image-classification datasets, held fully in memory as torch tensors.

:func:`load_dataset` reads a dataset from one of these sources (``spec``):

* ``"digits"``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes,
  shape ``(1, 8, 8)``); needs no file and no network.
* ``npz:PATH``: a NumPy ``.npz`` file with arrays ``x`` and ``y`` (optionally ``x_test`` /
  ``y_test`` for a fixed test split and ``classes`` for class names).
* ``imagefolder:PATH``: one sub-folder per class of image files, or ``train/`` and ``test/``
  folders each laid out that way.
* ``cifar10:PATH``: the CIFAR-10 python batches (``data_batch_1`` ... ``test_batch``) or the
  binary version (``data_batch_1.bin`` ... ``test_batch.bin``).
* ``mnist:PATH``: the four MNIST IDX files (``train-images-idx3-ubyte`` ...), raw or gzipped.

Without a prefix the format of a path is detected. Pixel values are scaled to ``[0, 1]``,
split into train / val / test by a stratified split fixed by ``seed`` and normalised per
channel with the mean and standard deviation of the train split only. The test split is
held out: only final reporting should read it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import math
import os
import pickle
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwnas.errors import ConfigError, DataError

__all__ = ["FORMATS", "IMAGE_EXTENSIONS", "Dataset", "Split", "load_dataset"]

#: The formats a spec may name with a ``FORMAT:PATH`` prefix.
FORMATS = ("npz", "imagefolder", "cifar10", "mnist")

#: File name suffixes read as images in an image folder (compared case-insensitively).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})

_ACCEPTED = (
    "'digits', a .npz file (npz:PATH), an image folder (imagefolder:PATH), "
    "a CIFAR-10 directory (cifar10:PATH) or an MNIST IDX directory (mnist:PATH)"
)

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


# --------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset.

    Attributes:
        x: Normalised images, float32 of shape ``(N, C, H, W)``.
        y: Class labels, int64 of shape ``(N,)``.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.dim() != 4 or self.x.dtype != torch.float32:
            raise DataError(f"Split.x: expected a float32 (N, C, H, W) tensor, got {self.x.dtype}")
        if self.y.dim() != 1 or self.y.dtype != torch.int64:
            raise DataError(f"Split.y: expected an int64 (N,) tensor, got {self.y.dtype}")
        if len(self.x) != len(self.y):
            raise DataError(f"Split: {len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False)
class Dataset:
    """An in-memory image-classification dataset with fixed train / val / test splits.

    Attributes:
        name: ``"digits"`` or the file / folder path the data was read from.
        train: The split models are trained on.
        val: The split candidate architectures are compared on.
        test: The held-out split; only final reporting reads it.
        classes: Class names; the index of a name is its label.
        mean: Per-channel mean subtracted from every split (computed on ``train``).
        std: Per-channel standard deviation every split was divided by (from ``train``).
        fingerprint: First 16 hex digits of a SHA-256 of the raw arrays of all splits and the
            split settings: the same inputs give the same fingerprint.
    """

    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fingerprint: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape ``(C, H, W)`` of one image."""
        _, c, h, w = self.train.x.shape
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.classes)

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: name, shapes, classes, split sizes and fingerprint."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "mean": list(self.mean),
            "std": list(self.std),
            "fingerprint": self.fingerprint,
        }


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


@dataclass
class _Raw:
    """Arrays as read from the source, before scaling, splitting and normalising."""

    x: np.ndarray  # (N, C, H, W), any real dtype
    y: np.ndarray  # (N,) int64
    classes: tuple[str, ...]
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    scale: float | None = None  # divide pixels by this; None: infer from the dtype


def load_dataset(
    spec: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    image_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load a dataset, split it and normalise it.

    Args:
        spec: ``"digits"``, a path (format detected) or ``FORMAT:PATH`` with FORMAT one of
            ``npz``, ``imagefolder``, ``cifar10``, ``mnist``.
        seed: Fixes the stratified split: the same seed gives the same splits.
        val_fraction: Size of the val split. When the source has its own test split, a
            fraction of its train data; otherwise a fraction of all the data.
        test_fraction: Size of the test split as a fraction of all the data; unused when the
            source has its own test split.
        image_size: ``(height, width)`` to resize every image to. Image folders default to
            the size of their first image; other sources keep their size when ``None``.

    Returns:
        The dataset, with float32 normalised images and int64 labels.

    Raises:
        ConfigError: An argument is invalid.
        DataError: The path is missing, of an unknown format or malformed, or a class has too
            few samples for a stratified split.
    """
    spec_str = _check_args(spec, seed, val_fraction, test_fraction, image_size)
    size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
    name, raw = _read(spec_str, size)
    return _build(name, raw, seed, float(val_fraction), float(test_fraction), size)


def _check_args(
    spec: object,
    seed: object,
    val_fraction: object,
    test_fraction: object,
    image_size: object,
) -> str:
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec:
        raise ConfigError("spec", f"a non-empty string: {_ACCEPTED}", spec)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError("seed", "an integer in 0..2**32-1", seed)
    for field, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
        if not ok or not 0.0 < float(value) < 1.0:  # type: ignore[arg-type]
            raise ConfigError(field, "a number in the open interval (0, 1)", value)
    total = float(val_fraction) + float(test_fraction)  # type: ignore[arg-type]
    if total >= 1.0:
        raise ConfigError("val_fraction + test_fraction", "a sum below 1", total)
    if image_size is not None and not (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
            for v in image_size
        )
    ):
        raise ConfigError(
            "image_size", "None or a (height, width) pair of positive integers", image_size
        )
    return spec


def _read(spec: str, image_size: tuple[int, int] | None) -> tuple[str, _Raw]:
    """Resolve ``spec`` to a format and read it: returns the dataset name and raw arrays."""
    if spec == "digits":
        return "digits", _read_digits()
    fmt: str | None = None
    path_str = spec
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in FORMATS:
        fmt, path_str = prefix, rest
        if not path_str:
            raise ConfigError("spec", f"a path after '{prefix}:'", spec)
    path = Path(path_str).expanduser()
    if not path.exists():
        raise DataError(f"{path_str}: no such file or directory (expected {_ACCEPTED})")
    if fmt is None:
        fmt = _detect(path)
    readers: dict[str, Callable[[Path, tuple[int, int] | None], _Raw]] = {
        "npz": _read_npz,
        "imagefolder": _read_image_folder,
        "cifar10": _read_cifar10,
        "mnist": _read_mnist,
    }
    return path_str, readers[fmt](path, image_size)


def _detect(path: Path) -> str:
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return "npz"
        raise DataError(f"{path}: unknown dataset format (expected {_ACCEPTED})")
    names = {p.name for p in path.iterdir()}
    if any(n.startswith(("train-images", "t10k-images")) for n in names) or _mnist_dir(path):
        return "mnist"
    if any(n.startswith(("data_batch_", "test_batch")) for n in names) or _cifar_dir(path):
        return "cifar10"
    if any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        return "imagefolder"
    raise DataError(f"{path}: unknown dataset format (expected {_ACCEPTED})")


# --------------------------------------------------------------------------------------------
# Splitting, scaling, normalising
# --------------------------------------------------------------------------------------------


def _build(
    name: str,
    raw: _Raw,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    image_size: tuple[int, int] | None,
) -> Dataset:
    classes = raw.classes
    y = raw.y
    has_test = raw.x_test is not None
    n = len(y)
    everything = np.arange(n)
    if has_test:
        n_val = math.ceil(val_fraction * n)
        train_idx, val_idx = _stratified_split(
            everything, y, n_val, seed, classes, "val", f"{name} (train data)"
        )
        test_x, test_y = raw.x_test, raw.y_test
    else:
        n_test = math.ceil(test_fraction * n)
        n_val = math.ceil(val_fraction * n)
        if n - n_test - n_val < 1:
            raise DataError(f"{name}: {n} samples are too few to split into train, val and test")
        rest_idx, test_idx = _stratified_split(everything, y, n_test, seed, classes, "test", name)
        train_idx, val_idx = _stratified_split(
            rest_idx, y, n_val, seed, classes, "val", f"{name} (after carving the test split)"
        )
        test_x, test_y = raw.x[test_idx], y[test_idx]
    assert test_x is not None and test_y is not None

    fingerprint = _fingerprint(raw, seed, val_fraction, test_fraction, image_size)

    x_train = _to_float(raw.x[train_idx], raw.scale, name, image_size)
    x_val = _to_float(raw.x[val_idx], raw.scale, name, image_size)
    x_test = _to_float(test_x, raw.scale, name, image_size)
    mean = x_train.double().mean(dim=(0, 2, 3))
    std = x_train.double().std(dim=(0, 2, 3), unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    mean_f = mean.float().view(1, -1, 1, 1)
    std_f = std.float().view(1, -1, 1, 1)
    for t in (x_train, x_val, x_test):
        t.sub_(mean_f).div_(std_f)

    def split(x: torch.Tensor, labels: np.ndarray) -> Split:
        return Split(x=x, y=torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)))

    return Dataset(
        name=name,
        train=split(x_train, y[train_idx]),
        val=split(x_val, y[val_idx]),
        test=split(x_test, test_y),
        classes=classes,
        mean=tuple(float(v) for v in mean_f.flatten()),
        std=tuple(float(v) for v in std_f.flatten()),
        fingerprint=fingerprint,
    )


def _stratified_split(
    idx: np.ndarray,
    y: np.ndarray,
    n_out: int,
    seed: int,
    classes: Sequence[str],
    what: str,
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` in two, stratified by ``y[idx]``; the second part has ``n_out`` items."""
    from sklearn.model_selection import train_test_split

    labels = y[idx]
    present, counts = np.unique(labels, return_counts=True)
    small = [(int(c), int(k)) for c, k in zip(present, counts, strict=True) if k < 2]
    if small:
        c, k = small[0]
        raise DataError(
            f"{where}: class {classes[c]!r} has only {k} sample(s); a stratified {what} split "
            f"needs at least 2 per class (add samples of this class or remove it)"
        )
    k = len(present)
    if n_out < k or len(idx) - n_out < k:
        raise DataError(
            f"{where}: a stratified {what} split of {len(idx)} samples into {len(idx) - n_out} and "
            f"{n_out} cannot give each of the {k} classes a sample on both sides; add data or "
            f"change val_fraction / test_fraction"
        )
    try:
        keep, out = train_test_split(idx, test_size=n_out, stratify=labels, random_state=seed)
    except ValueError as exc:
        raise DataError(f"{where}: cannot make a stratified {what} split: {exc}") from exc
    return np.sort(keep), np.sort(out)


def _to_float(
    x: np.ndarray, scale: float | None, name: str, image_size: tuple[int, int] | None
) -> torch.Tensor:
    """Scale raw pixels to float32 ``[0, 1]`` (integers) and resize to ``image_size``."""
    if scale is None:
        scale = 255.0 if x.dtype.kind in "iu" else 1.0
    out = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if scale != 1.0:
        out.div_(scale)
    if image_size is not None and tuple(out.shape[2:]) != image_size and len(out):
        out = torch.nn.functional.interpolate(
            out, size=image_size, mode="bilinear", align_corners=False, antialias=True
        )
    return out


def _fingerprint(
    raw: _Raw,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    image_size: tuple[int, int] | None,
) -> str:
    h = hashlib.sha256(b"hwnas.data v1\n")
    arrays = [("x", raw.x), ("y", raw.y)]
    if raw.x_test is not None and raw.y_test is not None:
        arrays += [("x_test", raw.x_test), ("y_test", raw.y_test)]
    for key, arr in arrays:
        arr = np.ascontiguousarray(arr)
        h.update(f"{key} {arr.dtype.str} {arr.shape}\n".encode())
        h.update(arr.reshape(-1).view(np.uint8).data)
    settings = (
        f"classes={list(raw.classes)!r} scale={raw.scale!r} seed={seed} "
        f"val_fraction={val_fraction!r} test_fraction={test_fraction!r} image_size={image_size!r}"
    )
    h.update(settings.encode())
    return h.hexdigest()[:16]


def _labels(
    y: np.ndarray, where: str, *, num_classes: int | None = None, field: str = "labels (y)"
) -> np.ndarray:
    """Check labels are integers (0..K-1) and return them as int64."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{where}: {field} must be 1-D (one label per image), got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{where}: {field} must hold integer class labels, got non-integers")
    elif y.dtype.kind not in "iu":
        raise DataError(f"{where}: {field} must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) == 0:
        raise DataError(f"{where}: {field} is empty")
    if num_classes is None:
        present = np.unique(y)
        if present[0] != 0 or present[-1] != len(present) - 1:
            raise DataError(
                f"{where}: {field} must be 0..K-1 with every class present, got {_short(present)}"
            )
    elif y.min() < 0 or y.max() >= num_classes:
        raise DataError(
            f"{where}: {field} must lie in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}"
        )
    return y


def _short(values: np.ndarray) -> str:
    items = [str(int(v)) for v in values[:10]]
    return "[" + ", ".join(items) + (", ...]" if len(values) > 10 else "]")


def _finish(
    where: str,
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str] | None,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    scale: float | None = None,
) -> _Raw:
    """Validate arrays common to every format and bundle them."""
    if len(x) != len(y):
        raise DataError(f"{where}: {len(x)} images but {len(y)} labels; they must match")
    if x_test is not None and y_test is not None and len(x_test) != len(y_test):
        raise DataError(
            f"{where}: {len(x_test)} test images but {len(y_test)} test labels; they must match"
        )
    if x_test is not None and x_test.shape[1:] != x.shape[1:]:
        raise DataError(
            f"{where}: test images have shape {x_test.shape[1:]}, train images {x.shape[1:]}"
        )
    y = _labels(y, where, num_classes=None if classes is None else len(classes))
    num = len(classes) if classes is not None else int(y.max()) + 1
    if y_test is not None:
        y_test = _labels(y_test, where, num_classes=num, field="test labels (y_test)")
    if len(np.unique(y)) < 2:
        raise DataError(f"{where}: found {len(np.unique(y))} class(es); at least 2 are needed")
    names = tuple(classes) if classes is not None else tuple(str(i) for i in range(num))
    return _Raw(x=x, y=y, classes=names, x_test=x_test, y_test=y_test, scale=scale)


def _check_pixels(x: np.ndarray, where: str, field: str) -> None:
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: {field} must be numeric images, got dtype {x.dtype}")
    if x.size == 0:
        raise DataError(f"{where}: {field} is empty")
    if x.dtype.kind in "iu" and x.dtype != np.uint8 and (x.min() < 0 or x.max() > 255):
        raise DataError(
            f"{where}: integer {field} must hold pixel values 0..255 (store other ranges as "
            f"float), got {x.min()}..{x.max()}"
        )
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise DataError(f"{where}: {field} contains NaN or infinite values")


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------


def _read_digits() -> _Raw:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)[:, None]  # values 0..16
    y = np.asarray(bunch.target, dtype=np.int64)
    return _finish("digits", images, y, [str(i) for i in range(10)], scale=16.0)


# --------------------------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------------------------


def _read_npz(path: Path, image_size: tuple[int, int] | None) -> _Raw:
    del image_size  # resized after loading
    if not path.is_file():
        raise DataError(f"{path}: expected a .npz file, got a directory")
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
            arrays = {k: npz[k] for k in ("x", "y", "x_test", "y_test", "classes") if k in files}
    except DataError:
        raise
    except AttributeError:
        raise DataError(f"{path}: expected a .npz archive with arrays x and y") from None
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read as .npz: {exc}") from exc
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise DataError(f"{path}: cannot read as .npz: {exc}") from exc

    where = str(path)
    x = _npz_layout(arrays["x"], where, "x")
    x_test = _npz_layout(arrays["x_test"], where, "x_test") if "x_test" in arrays else None
    classes: list[str] | None = None
    if "classes" in arrays:
        names = arrays["classes"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"{where}: classes must be a 1-D array of strings")
        classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
    return _finish(where, x, arrays["y"], classes, x_test, arrays.get("y_test"))


def _npz_layout(x: np.ndarray, where: str, field: str) -> np.ndarray:
    """Bring ``x`` to ``(N, C, H, W)`` from ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``."""
    _check_pixels(x, where, field)
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


# --------------------------------------------------------------------------------------------
# image folder
# --------------------------------------------------------------------------------------------

_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def _scan_classes(root: Path) -> list[tuple[str, list[Path]]]:
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(
            f"{root}: an image folder needs one sub-folder per class holding image files "
            f"({', '.join(sorted(IMAGE_EXTENSIONS))}); found no class folders"
        )
    out = []
    for d in dirs:
        files = sorted(
            p
            for p in d.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise DataError(
                f"{d}: class folder holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        out.append((d.name, files))
    return out


def _read_image_folder(path: Path, image_size: tuple[int, int] | None) -> _Raw:
    from PIL import Image

    if not path.is_dir():
        raise DataError(f"{path}: expected an image folder (a directory), got a file")
    split_layout = (path / "train").is_dir() and (path / "test").is_dir()
    train = _scan_classes(path / "train" if split_layout else path)
    classes = [name for name, _ in train]
    test: list[tuple[str, list[Path]]] = []
    if split_layout:
        test = _scan_classes(path / "test")
        unknown = [name for name, _ in test if name not in classes]
        if unknown:
            raise DataError(
                f"{path / 'test'}: class folder(s) {unknown} have no counterpart in "
                f"{path / 'train'} (classes {classes})"
            )
    items = [(f, classes.index(name)) for name, files in train for f in files]
    test_items = [(f, classes.index(name)) for name, files in test for f in files]

    size = image_size  # (H, W)
    arrays: list[np.ndarray] = []
    gray: list[bool] = []
    for file, _ in items + test_items:
        try:
            with Image.open(file) as im:
                is_gray = im.mode in _GRAY_MODES
                img = im.convert("L" if is_gray else "RGB")
        except Exception as exc:  # OSError, DecompressionBombError, ValueError...
            raise DataError(f"{file}: cannot read image: {exc}") from exc
        if size is None:
            size = (img.height, img.width)
        if (img.height, img.width) != size:
            img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(img, dtype=np.uint8))
        gray.append(is_gray)
    all_gray = all(gray)
    stacked = [
        a[:, :, None] if all_gray else (np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a)
        for a in arrays
    ]
    x_all = np.stack(stacked).transpose(0, 3, 1, 2)
    x_all = np.ascontiguousarray(x_all)
    y_all = np.array([label for _, label in items + test_items], dtype=np.int64)
    n = len(items)
    where = str(path)
    if split_layout:
        return _finish(where, x_all[:n], y_all[:n], classes, x_all[n:], y_all[n:])
    return _finish(where, x_all, y_all, classes)


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------


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


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and plain containers, and nothing else.

    Unpickling calls whatever callable a pickle names, so ``pickle.load`` on a downloaded file
    can run arbitrary code (``os.system``, ``eval``...). The CIFAR-10 python batches are
    pickles of dicts of lists, bytes and NumPy arrays, which need only the globals below to
    be rebuilt; :meth:`find_class` refuses every other global with a :class:`DataError`
    before anything is called. Plain containers (dict, list, str, bytes, int) need no globals.

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
        if (module, name) not in self.ALLOWED:
            raise DataError(
                f"refusing to unpickle {module}.{name}: only NumPy arrays and plain containers "
                f"are allowed in dataset pickles"
            )
        return _numpy_global(module, name)


def _load_pickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`_NumpyOnlyUnpickler` (bytes keys, as in CIFAR-10)."""
    try:
        with path.open("rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, TypeError...
        raise DataError(f"{path}: not a valid CIFAR-10 python batch: {exc}") from exc


def _get(d: dict[Any, Any], key: str) -> Any:
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def _cifar_dir(path: Path) -> Path | None:
    for sub in ("cifar-10-batches-py", "cifar-10-batches-bin"):
        if (path / sub).is_dir():
            return path / sub
    return None


def _read_cifar10(path: Path, image_size: tuple[int, int] | None) -> _Raw:
    del image_size
    if not path.is_dir():
        raise DataError(f"{path}: expected a CIFAR-10 directory, got a file")
    root = path
    if not any(root.glob("data_batch_*")) and not any(root.glob("test_batch*")):
        root = _cifar_dir(path) or path
    train_names = [f"data_batch_{i}" for i in range(1, 6)]
    if (root / "data_batch_1.bin").is_file() or (root / "test_batch.bin").is_file():
        names = [n + ".bin" for n in [*train_names, "test_batch"]]
        missing = [n for n in names if not (root / n).is_file()]
        if missing:
            raise DataError(
                f"{root}: CIFAR-10 binary version is missing {', '.join(missing)} (needs "
                f"data_batch_1.bin ... data_batch_5.bin and test_batch.bin)"
            )
        parts = [_cifar_bin_batch(root / n) for n in names]
        classes = _cifar_bin_meta(root / "batches.meta.txt")
    else:
        names = [*train_names, "test_batch"]
        missing = [n for n in names if not (root / n).is_file()]
        if missing:
            raise DataError(
                f"{root}: CIFAR-10 directory is missing batch(es) {', '.join(missing)} (needs the "
                f"python batches data_batch_1 ... data_batch_5 and test_batch, or the binary "
                f"version data_batch_1.bin ... test_batch.bin)"
            )
        parts = [_cifar_py_batch(root / n) for n in names]
        classes = _cifar_py_meta(root / "batches.meta")
    x = np.concatenate([p[0] for p in parts[:5]])
    y = np.concatenate([p[1] for p in parts[:5]])
    return _finish(str(path), x, y, classes, parts[5][0], parts[5][1])


def _cifar_py_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _load_pickle(path)
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


def _cifar_py_meta(path: Path) -> list[str]:
    if not path.is_file():
        return list(CIFAR10_CLASSES)
    meta = _load_pickle(path)
    names = _get(meta, "label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{path}: expected a dict with label_names, a list of strings")
    return [n.decode() if isinstance(n, bytes) else n for n in names]


def _cifar_bin_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.fromfile(path, dtype=np.uint8)
    record = 1 + 3072
    if data.size == 0 or data.size % record:
        raise DataError(
            f"{path}: truncated or malformed CIFAR-10 binary batch: {data.size} bytes is not a "
            f"multiple of {record} (1 label byte + 3072 pixel bytes per image)"
        )
    rows = data.reshape(-1, record)
    return np.ascontiguousarray(rows[:, 1:]).reshape(-1, 3, 32, 32), rows[:, 0].astype(np.int64)


def _cifar_bin_meta(path: Path) -> list[str]:
    if not path.is_file():
        return list(CIFAR10_CLASSES)
    names = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    return [n for n in names if n]


# --------------------------------------------------------------------------------------------
# MNIST IDX
# --------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _mnist_dir(path: Path) -> Path | None:
    for sub in ("raw", "MNIST/raw", "FashionMNIST/raw"):
        d = path / sub
        if d.is_dir() and any(p.name.startswith("train-images") for p in d.iterdir()):
            return d
    return None


def _find_idx(root: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file (raw or gzipped) holding an array of ``ndim`` dims."""
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


def _read_mnist(path: Path, image_size: tuple[int, int] | None) -> _Raw:
    del image_size
    if not path.is_dir():
        raise DataError(f"{path}: expected a directory with MNIST IDX files, got a file")
    root = path if _find_idx(path, _MNIST_FILES["train_images"]) else _mnist_dir(path) or path
    files = {key: _find_idx(root, stem) for key, stem in _MNIST_FILES.items()}
    missing = [_MNIST_FILES[k] for k, v in files.items() if v is None]
    if missing:
        raise DataError(
            f"{root}: missing MNIST file(s) {', '.join(missing)} (raw or .gz); needs "
            f"{', '.join(_MNIST_FILES.values())}"
        )
    arrays: dict[str, np.ndarray] = {}
    for key, file in files.items():
        assert file is not None
        arrays[key] = _read_idx(file, 3 if key.endswith("images") else 1)
    for part in ("train", "test"):
        n_img, n_lab = len(arrays[f"{part}_images"]), len(arrays[f"{part}_labels"])
        if n_img != n_lab:
            raise DataError(
                f"{root}: {files[f'{part}_images']} has {n_img} images but "
                f"{files[f'{part}_labels']} has {n_lab} labels; they must match"
            )
    for key in ("train_images", "test_images"):
        _check_pixels(arrays[key], str(files[key]), "images")
    return _finish(
        str(path),
        arrays["train_images"][:, None],
        arrays["train_labels"],
        None,
        arrays["test_images"][:, None],
        arrays["test_labels"],
    )
