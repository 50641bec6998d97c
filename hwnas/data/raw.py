"""The arrays a reader hands over, and the checks every reader's arrays pass.

A reader only decodes its format; :meth:`RawData.from_arrays` then checks what all formats
have in common (matching lengths, integer labels 0..K-1, at least two classes) so that the
messages are the same whatever the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hwnas.errors import DataError

__all__ = ["RawData", "check_pixels", "check_varies"]


@dataclass
class RawData:
    """Arrays as read from the source, before scaling, splitting and normalising.

    Attributes:
        x: Images ``(N, C, H, W)`` of any real dtype.
        y: Labels ``(N,)``, int64 in ``0..K-1``.
        classes: Class names; the index of a name is its label.
        x_test: Images of the source's own test split, or ``None`` when it has none.
        y_test: Labels of the source's own test split, or ``None``.
        scale: Pixels are divided by this; ``None`` infers it from the dtype (255 for
            integers, 1 for floats).
        vocabulary: For text: the token of each id (``x`` then holds int64 token ids
            ``(N, L)``, which are neither scaled nor normalised); ``None`` for images.
        tokenizer: For text: how texts became tokens (``char`` or ``word``, see
            :mod:`hwnas.data.readers.text`); ``None`` for images.
        input_scale: What the source's pixel values were divided by when a reader scaled
            them itself (16-bit images: ``"65535"``), for the record; ``None``: ``scale``
            (or its inference) says it.
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    scale: float | None = None
    vocabulary: tuple[str, ...] | None = None
    tokenizer: str | None = None
    input_scale: str | None = None

    @classmethod
    def from_arrays(
        cls,
        where: str,
        x: np.ndarray,
        y: np.ndarray,
        classes: Sequence[str] | None,
        x_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
        scale: float | None = None,
        vocabulary: Sequence[str] | None = None,
        tokenizer: str | None = None,
    ) -> RawData:
        """Check the arrays every format shares and bundle them.

        Args:
            where: The source, named in error messages (a path, or ``"digits"``).
            x: Images ``(N, C, H, W)``.
            y: Labels, 1-D (or ``(N, 1)``) integers.
            classes: Class names; ``None`` names classes ``"0"``, ``"1"``... and requires
                every label 0..K-1 to be present.
            x_test: The source's own test images, if any.
            y_test: Their labels.
            scale: See :attr:`scale`.
            vocabulary: See :attr:`vocabulary`.
            tokenizer: See :attr:`tokenizer`.

        Raises:
            DataError: Lengths or shapes disagree, labels are not integer classes, or fewer
                than two classes are present.
        """
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
        vocab = None if vocabulary is None else tuple(vocabulary)
        return cls(
            x,
            y,
            names,
            x_test=x_test,
            y_test=y_test,
            scale=scale,
            vocabulary=vocab,
            tokenizer=None if vocab is None else tokenizer or "char",
        )


def check_pixels(x: np.ndarray, where: str, field: str) -> None:
    """Check that ``x`` holds usable pixel values.

    Args:
        x: The images.
        where: The source, named in error messages.
        field: The array's name in the source, named in error messages.

    Raises:
        DataError: ``x`` is not numeric, is empty, holds integers outside 0..255 or
            non-finite floats.
    """
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


def check_varies(x: np.ndarray, where: str, what: str, hint: str = "") -> None:
    """Refuse training input whose every value is the same.

    Normalisation turns such input into zeros and training then stays at chance level
    with no sign of why; a blank source (an empty render, a channel lost on decoding) is
    better reported while its name is at hand.

    Args:
        x: The training input (an array or a CPU tensor).
        where: The source, named in the message.
        what: What ``x`` is, in words (``"the training images"``).
        hint: Appended to the message: a likely cause particular to the source.

    Raises:
        DataError: Every value of ``x`` is equal.
    """
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        raise DataError(
            f"{where}: the training input is constant: every value of {what} is {lo:g}, so "
            f"a model cannot learn anything from it (expected values that vary){hint}"
        )


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
