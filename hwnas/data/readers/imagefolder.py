"""``imagefolder:PATH``: one sub-folder per class of image files, read with Pillow.

Either ``PATH/<class>/<image>`` (split by hwnas) or ``PATH/train/<class>/<image>`` and
``PATH/test/<class>/<image>`` (the test folder is the test split). Images are converted to
grayscale when all of them are grayscale, to RGB otherwise, and resized to ``image_size``
(default: the size of the first image).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwnas.data.raw import RawData
from hwnas.data.readers.base import PathReader, register_reader
from hwnas.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "ImageFolderReader"]

#: File name suffixes read as images in an image folder (compared case-insensitively).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})

_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


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
        """Decode every image, resized to ``image_size`` or to the first image's size."""
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
        x_all = _stack(arrays, all_gray=all(gray))
        y_all = np.array([label for _, label in items + test_items], dtype=np.int64)
        n = len(items)
        where = str(path)
        if split_layout:
            return RawData.from_arrays(where, x_all[:n], y_all[:n], classes, x_all[n:], y_all[n:])
        return RawData.from_arrays(where, x_all, y_all, classes)


def _scan_classes(root: Path) -> list[tuple[str, list[Path]]]:
    """``(class name, image files)`` for each visible sub-folder of ``root``, sorted."""
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


def _stack(arrays: list[np.ndarray], *, all_gray: bool) -> np.ndarray:
    """``(N, C, H, W)`` uint8 from ``(H, W)`` gray and ``(H, W, 3)`` RGB images.

    One channel when every image is gray; otherwise three, gray images repeated.
    """
    stacked = [
        a[:, :, None] if all_gray else (np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a)
        for a in arrays
    ]
    return np.ascontiguousarray(np.stack(stacked).transpose(0, 3, 1, 2))
