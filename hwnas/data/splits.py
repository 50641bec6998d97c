"""From raw arrays to a :class:`~hwnas.data.dataset.Dataset`: split, scale, normalise.

Splits are stratified and fixed by the seed; a source with its own test split keeps it.
Pixels are scaled to ``[0, 1]``, optionally resized, and normalised per channel with the
mean and standard deviation of the train split only, so nothing about val or test leaks
into training. The fingerprint hashes the raw arrays and every setting that shapes the splits.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import torch

from hwnas.data.dataset import Dataset, Split
from hwnas.data.raw import RawData, check_varies
from hwnas.errors import DataError

__all__ = ["build_dataset", "fingerprint"]


def build_dataset(
    name: str,
    raw: RawData,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    image_size: tuple[int, int] | None,
) -> Dataset:
    """Split, scale, resize and normalise ``raw`` (arguments as in ``load_dataset``).

    Raises:
        DataError: Too few samples, or a class too small, for stratified splits; or the
            train split's images are constant (every value equal).
    """
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

    digest = fingerprint(raw, seed, val_fraction, test_fraction, image_size)
    if raw.vocabulary is not None:
        return _token_dataset(
            name,
            raw,
            digest,
            (raw.x[train_idx], y[train_idx]),
            (raw.x[val_idx], y[val_idx]),
            (test_x, test_y),
        )

    x_train = _to_float(raw.x[train_idx], raw.scale, image_size)
    check_varies(x_train.numpy(), name, "the train split's pixels (after scaling)")
    x_val = _to_float(raw.x[val_idx], raw.scale, image_size)
    x_test = _to_float(test_x, raw.scale, image_size)
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
        fingerprint=digest,
        input_scale=raw.input_scale or f"{_scale(raw.x, raw.scale):g}",
    )


def fingerprint(
    raw: RawData,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    image_size: tuple[int, int] | None,
) -> str:
    """First 16 hex digits of a SHA-256 of the raw arrays and the split settings."""
    # The "hwnas.data v1" tag is part of every stored fingerprint: keep it when code moves.
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
    if raw.vocabulary is not None:  # absent for images: their fingerprints stay as they were
        settings += f" vocabulary={list(raw.vocabulary)!r}"
        if raw.tokenizer not in (None, "char"):  # characters: as before words existed
            settings += f" tokenizer={raw.tokenizer!r}"
    h.update(settings.encode())
    return h.hexdigest()[:16]


def _token_dataset(
    name: str,
    raw: RawData,
    digest: str,
    *splits: tuple[np.ndarray, np.ndarray],
) -> Dataset:
    """The train, val and test ``splits`` of token ids, as they are (ids are not scaled)."""

    def split(x: np.ndarray, labels: np.ndarray) -> Split:
        return Split(
            x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64)),
            y=torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
        )

    train, val, test = (split(x, labels) for x, labels in splits)
    return Dataset(
        name, train, val, test, raw.classes, (), (), digest, raw.vocabulary, raw.tokenizer
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


def _scale(x: np.ndarray, scale: float | None) -> float:
    """What raw pixels are divided by: ``scale``, else 255 for integers and 1 for floats."""
    if scale is None:
        return 255.0 if x.dtype.kind in "iu" else 1.0
    return float(scale)


def _to_float(
    x: np.ndarray, scale: float | None, image_size: tuple[int, int] | None
) -> torch.Tensor:
    """Scale raw pixels to float32 ``[0, 1]`` (integers) and resize to ``image_size``."""
    scale = _scale(x, scale)
    out = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if scale != 1.0:
        out.div_(scale)
    if image_size is not None and tuple(out.shape[2:]) != image_size and len(out):
        out = torch.nn.functional.interpolate(
            out, size=image_size, mode="bilinear", align_corners=False, antialias=True
        )
    return out
