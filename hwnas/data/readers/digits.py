"""``digits``: scikit-learn's bundled 8x8 handwritten digits; needs no file and no network.

1797 images of shape ``(1, 8, 8)`` with pixel values 0..16, 10 classes ``"0"`` ... ``"9"``.
"""

from __future__ import annotations

import numpy as np

from hwnas.data.raw import RawData
from hwnas.data.readers.base import BuiltinReader, register_reader


@register_reader("digits")
class DigitsReader(BuiltinReader):
    """scikit-learn's ``load_digits``, scaled by 16 (its largest pixel value)."""

    def read(self, image_size: tuple[int, int] | None) -> RawData:
        """The 1797 digits; ``image_size`` is applied later, when the splits are built."""
        del image_size
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = np.asarray(bunch.images, dtype=np.float64)[:, None]  # values 0..16
        y = np.asarray(bunch.target, dtype=np.int64)
        return RawData.from_arrays("digits", images, y, [str(i) for i in range(10)], scale=16.0)
