"""What one model input is: an image or a sequence of token ids.

An input shape ``(C, H, W)`` is an image, fed as float32; a shape ``(L,)`` is one sequence
of ``L`` token ids, fed as int64 (0 is padding). Everything that makes an input tensor
for a model it did not build (cost counting, ONNX export, profiling) asks here, so that
the two kinds flow through the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["RANDOM_TOKEN_IDS", "example_input", "is_sequence_shape", "random_input"]

#: Random token inputs use ids ``1..RANDOM_TOKEN_IDS-1`` (no padding), which every
#: vocabulary of at least this many tokens holds.
RANDOM_TOKEN_IDS = 32


def is_sequence_shape(input_shape: Sequence[int]) -> bool:
    """Whether ``input_shape`` is one sequence of token ids ``(L,)`` (else an image)."""
    return len(input_shape) == 1


def example_input(input_shape: Sequence[int], batch: int = 1) -> torch.Tensor:
    """Zeros of ``batch`` inputs of ``input_shape``: int64 ids or a float32 image."""
    import torch

    dtype = torch.int64 if is_sequence_shape(input_shape) else torch.float32
    return torch.zeros(batch, *input_shape, dtype=dtype)


def random_input(input_shape: Sequence[int], batch: int, rng: np.random.Generator) -> np.ndarray:
    """``batch`` pseudo-random inputs of ``input_shape`` (numpy): standard-normal float32
    images, or int64 token ids in ``1..RANDOM_TOKEN_IDS-1``. Not zeros, so that no runtime
    takes a zero fast path."""
    shape = (batch, *input_shape)
    if is_sequence_shape(input_shape):
        return rng.integers(1, RANDOM_TOKEN_IDS, size=shape, dtype=np.int64)
    return rng.standard_normal(shape, dtype=np.float32)
