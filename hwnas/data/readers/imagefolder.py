"""``imagefolder:PATH``: one sub-folder per class of image files, read with Pillow.

Either ``PATH/<class>/<image>`` (split by hwnas) or ``PATH/train/<class>/<image>`` and
``PATH/test/<class>/<image>`` (the test folder is the test split). A class folder is read
recursively, as torchvision's ``ImageFolder`` does: ``PATH/<class>/a/b.png`` belongs to
``<class>``. Images are converted to grayscale when all of them are grayscale, to RGB
otherwise; transparent pixels are composited on white. 16-bit grayscale images are scaled
by 65535, so their full range survives (8-bit images are scaled by 255 as usual). Every
image is resized to ``image_size`` when it is given, otherwise to the most common size of
the train images (ties: the largest), with a warning naming how many were resized.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.data.raw import RawData, check_varies
from hwnas.data.readers.base import PathReader, register_reader
from hwnas.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "ImageFolderReader"]

#: File name suffixes read as images in an image folder (compared case-insensitively).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
#: Integer modes Pillow gives 16-bit grayscale PNGs ("I" in older Pillow): values 0..65535,
#: which ``convert("L")`` would clip at 255 instead of scaling.
_WIDE_GRAY_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

_CONSTANT_HINT = (
    " (images are read as grayscale or RGB with transparent pixels composited on white: "
    "a drawing held only in the alpha channel is lost when its colour is white too)"
)


@register_reader("imagefolder")
class ImageFolderReader(PathReader):
    """Reads an image folder; any folder with a visible sub-folder is detected as one."""

    description = "an image folder"
    list_order = 20
    # Almost any folder has a sub-folder: ask the readers of more specific layouts first.
    detect_order = 90

    def detect(self, path: Path) -> bool:
        """Whether ``path`` is a folder with at least one non-hidden sub-folder."""
        return path.is_dir() and any(
            p.is_dir() and not p.name.startswith(".") for p in path.iterdir()
        )

    def read(self, path: Path, image_size: tuple[int, int] | None) -> RawData:
        """Decode every image, resized to ``image_size`` or to the most common train size."""
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
            missing = [name for name in classes if name not in {n for n, _ in test}]
            if missing:
                warnings.warn(
                    f"{path / 'test'}: no images of class(es) {missing}: test accuracy says "
                    "nothing about them",
                    stacklevel=2,
                )
        items = [(f, classes.index(name)) for name, files in train for f in files]
        test_items = [(f, classes.index(name)) for name, files in test for f in files]
        n = len(items)

        decoded = [_decode(file) for file, _ in items + test_items]
        size = image_size or _common_size([a.shape[:2] for a, _ in decoded[:n]])
        resized = sum(a.shape[:2] != size for a, _ in decoded)
        if image_size is None and resized:
            warnings.warn(
                f"{path}: resized {resized} of {len(decoded)} images to {size[0]}x{size[1]} "
                f"(height x width), the most common size of the train images; set image_size "
                f"to choose another",
                stacklevel=2,
            )
        arrays = [_resize(a, size) for a, _ in decoded]
        x_all = _stack(arrays, all_gray=all(gray for _, gray in decoded))
        y_all = np.array([label for _, label in items + test_items], dtype=np.int64)
        where = str(path)
        if split_layout:
            raw = RawData.from_arrays(where, x_all[:n], y_all[:n], classes, x_all[n:], y_all[n:])
        else:
            raw = RawData.from_arrays(where, x_all, y_all, classes)
        if any(a.dtype != np.uint8 for a in arrays):  # scaled here, each by its bit depth
            raw.input_scale = (
                "65535"
                if all(a.dtype != np.uint8 for a in arrays)
                else "255 for 8-bit images, 65535 for 16-bit ones"
            )
        check_varies(raw.x, where, "the training images", _CONSTANT_HINT)
        return raw


def _scan_classes(root: Path) -> list[tuple[str, list[Path]]]:
    """``(class name, image files)`` for each visible sub-folder of ``root``, sorted.

    A class folder is walked recursively (hidden files and folders skipped) so that images
    sorted into sub-folders of a class are not silently dropped; the files are sorted by
    path so the order, and with it the splits, does not depend on the file system.
    """
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(
            f"{root}: an image folder needs one sub-folder per class holding image files "
            f"({', '.join(sorted(IMAGE_EXTENSIONS))}); found no class folders"
        )
    out = []
    for d in dirs:
        files = sorted(_walk_images(d))
        if not files:
            raise DataError(
                f"{d}: class folder holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}),"
                f" nor do its sub-folders"
            )
        out.append((d.name, files))
    return out


def _walk_images(folder: Path) -> list[Path]:
    """The image files under ``folder``, at any depth; links are followed, each real folder
    visited once so that a link to a parent cannot loop forever."""
    seen: set[str] = set()
    found = []
    for top, subdirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            subdirs[:] = []
            continue
        seen.add(real)
        subdirs[:] = [s for s in subdirs if not s.startswith(".")]
        for name in names:
            p = Path(top) / name
            if not name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
                found.append(p)
    return found


def _decode(file: Path) -> tuple[np.ndarray, bool]:
    """The pixels of ``file`` and whether it is grayscale.

    8-bit images come back as uint8 ``(H, W)`` (gray) or ``(H, W, 3)``; 16-bit grayscale
    ones as float32 ``(H, W)`` in ``[0, 1]`` (divided by 65535), the range 8-bit images reach
    once scaled by 255. Transparency is composited on white rather than dropped: dropping it
    (torchvision's ``convert("RGB")``) turns an image drawn only in the alpha channel, such
    as a black glyph on a transparent background, into a blank one; white is how viewers
    show such an image on a page.
    """
    from PIL import Image

    try:
        with Image.open(file) as im:
            is_gray = im.mode in _GRAY_MODES
            if im.mode in _WIDE_GRAY_MODES:
                wide = np.asarray(im).astype(np.float32) / 65535.0
                return np.clip(wide, 0.0, 1.0), True
            img: Any = im
            if im.mode in _ALPHA_MODES or "transparency" in im.info:
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, im.convert("RGBA"))
            return np.asarray(img.convert("L" if is_gray else "RGB"), dtype=np.uint8), is_gray
    except Exception as exc:  # OSError, DecompressionBombError, ValueError...
        raise DataError(f"{file}: cannot read image: {exc}") from exc


def _common_size(sizes: list[tuple[int, ...]]) -> tuple[int, int]:
    """The most common ``(H, W)``; ties go to the largest area, then the larger height.

    Not the first file's size: one stray image that sorts first would otherwise decide
    the size of every other.
    """
    counts = Counter((int(s[0]), int(s[1])) for s in sizes)
    return max(counts, key=lambda s: (counts[s], s[0] * s[1], s))


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``a`` resized (bilinear) to ``size`` = ``(H, W)``; its dtype is kept."""
    from PIL import Image

    if a.shape[:2] == size:
        return a
    resized = Image.fromarray(a).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=a.dtype)


def _stack(arrays: list[np.ndarray], *, all_gray: bool) -> np.ndarray:
    """``(N, C, H, W)`` from ``(H, W)`` gray and ``(H, W, 3)`` RGB images.

    One channel when every image is gray; otherwise three, gray images repeated. uint8
    when every image is 8-bit; float32 in ``[0, 1]`` when a 16-bit image is among them
    (the 8-bit ones divided by 255 to match).
    """
    if any(a.dtype != np.uint8 for a in arrays):
        arrays = [a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a for a in arrays]
    stacked = [
        a[:, :, None] if all_gray else (np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a)
        for a in arrays
    ]
    return np.ascontiguousarray(np.stack(stacked).transpose(0, 3, 1, 2))
