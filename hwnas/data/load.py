""":func:`load_dataset`: from a spec to a split, normalised :class:`~hwnas.data.dataset.Dataset`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hwnas.data.dataset import Dataset
from hwnas.data.raw import RawData
from hwnas.data.readers.base import (
    PathReader,
    accepted_sources,
    builtin_reader,
    detect_reader,
    path_reader,
)
from hwnas.data.readers.text import TextOptions, TextSource
from hwnas.data.splits import build_dataset
from hwnas.errors import ConfigError, DataError

__all__ = ["is_text_source", "load_dataset"]


def load_dataset(
    spec: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    image_size: int | tuple[int, int] | None = None,
    text: TextOptions | None = None,
) -> Dataset:
    """Load a dataset, split it and normalise it.

    Args:
        spec: ``"digits"``, a path (format detected) or ``FORMAT:PATH`` with FORMAT one of
            ``npz``, ``imagefolder``, ``cifar10``, ``mnist`` (any registered reader; see
            :mod:`hwnas.data.readers`).
        seed: Fixes the stratified split: the same seed gives the same splits.
        val_fraction: Size of the val split. When the source has its own test split, a
            fraction of its train data; otherwise a fraction of all the data.
        test_fraction: Size of the test split as a fraction of all the data; unused when the
            source has its own test split.
        image_size: ``(height, width)`` to resize every image to, or one integer for a
            square. When ``None``, image folders resize to the most common size of their
            train images (ties: the largest) and other sources keep their size.
        text: For text sources (``reviews``, ``text:PATH``): columns, sequence length and
            vocabulary size; ``None`` keeps their defaults. Refused for images.

    Returns:
        The dataset, with float32 normalised images and int64 labels.

    Raises:
        ConfigError: An argument is invalid.
        DataError: The path is missing, of an unknown format or malformed, a class has too
            few samples for a stratified split, or the training images are constant.
    """
    spec_str = _check_args(spec, seed, val_fraction, test_fraction, image_size)
    size = _pair(image_size)
    name, raw = _read(spec_str, size, text)
    return build_dataset(name, raw, seed, float(val_fraction), float(test_fraction), size)


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
        raise ConfigError("spec", f"a non-empty string: {accepted_sources()}", spec)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError("seed", "an integer in 0..2**32-1", seed)
    for field, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
        if not ok or not 0.0 < float(value) < 1.0:  # type: ignore[arg-type]
            raise ConfigError(field, "a number in the open interval (0, 1)", value)
    total = float(val_fraction) + float(test_fraction)  # type: ignore[arg-type]
    if total >= 1.0:
        raise ConfigError("val_fraction + test_fraction", "a sum below 1", total)
    pair = (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(_is_size(v) for v in image_size)
    )
    if image_size is not None and not _is_size(image_size) and not pair:
        raise ConfigError(
            "image_size",
            "None, a positive integer or a (height, width) pair of positive integers",
            image_size,
        )
    return spec


def _is_size(value: object) -> bool:
    """Whether ``value`` is one positive integer (a square size); bools are not sizes."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value > 0)


def _pair(image_size: object) -> tuple[int, int] | None:
    """A checked ``image_size`` as ``(height, width)``: an integer means a square, so that
    ``32`` and ``(32, 32)`` load (and fingerprint) the same data."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    assert isinstance(image_size, (tuple, list))
    return int(image_size[0]), int(image_size[1])


def _read(
    spec: str, image_size: tuple[int, int] | None, text: TextOptions | None = None
) -> tuple[str, RawData]:
    """Resolve ``spec`` to a reader and read it: returns the dataset name and raw arrays.

    A built-in dataset is named alone (``digits``); ``FORMAT:PATH`` forces a path format;
    anything else is a path whose format its readers detect. ``digits:x`` is the path
    ``digits:x``: only path formats take a prefix.
    """
    builtin = builtin_reader(spec)
    if builtin is not None:
        _set_text_options(builtin, spec, text)
        return spec, builtin.read(image_size)
    reader: PathReader | None = None
    path_str = spec
    prefix, sep, rest = spec.partition(":")
    named = path_reader(prefix) if sep else None
    if named is not None:
        reader, path_str = named, rest
        if not path_str:
            raise ConfigError("spec", f"a path after '{prefix}:'", spec)
    path = Path(path_str).expanduser()
    if not path.exists():
        raise DataError(f"{path_str}: no such file or directory (expected {accepted_sources()})")
    if reader is None:
        reader = detect_reader(path)
    _set_text_options(reader, spec, text)
    return path_str, reader.read(path, image_size)


def absolute_spec(spec: str) -> str:
    """``spec`` with a relative path made absolute (``data/x`` -> ``/home/me/data/x``,
    ``npz:d.npz`` -> ``npz:/home/me/d.npz``), so that a run folder's config reads the same
    data from any working directory; built-in names and paths that do not exist are left
    as they are (loading says what is wrong with them)."""
    if builtin_reader(spec) is not None:
        return spec
    prefix, sep, rest = spec.partition(":")
    if sep and path_reader(prefix) is not None:
        return f"{prefix}:{absolute_spec(rest)}" if rest else spec
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def is_text_source(spec: str) -> bool:
    """Whether ``spec`` names text (``reviews``, ``text:PATH``, a ``.csv`` file...), found
    without reading it; ``False`` for images and for specs that name nothing."""
    reader: object = builtin_reader(spec)
    if reader is None:
        prefix, sep, rest = spec.partition(":")
        reader = path_reader(prefix) if sep else None
        path = Path(rest if reader is not None else spec).expanduser()
        if reader is None and path.exists():
            try:
                reader = detect_reader(path)
            except DataError:
                return False
    return isinstance(reader, TextSource)


def _set_text_options(reader: object, spec: str, text: TextOptions | None) -> None:
    """Hand ``text`` to a text reader (readers are built with no arguments); text options
    for an image source are a mistake worth a message, not something to ignore."""
    if text is None:
        return
    if not isinstance(reader, TextSource):
        raise ConfigError("text options", "a text source ('reviews' or text:PATH)", spec)
    reader.options = text
