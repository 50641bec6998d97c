"""Architectures of the ``transformer`` space (torch-free).

String form: the embedding width, then one ``h<heads>-f<ffn>`` entry per encoder layer,
``|``-separated: ``e128|h4-f512|h2-f256`` is a two-layer encoder of width 128 whose first
layer has four attention heads and a 512-wide feed-forward block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from hwnas.spaces.base import Arch


@dataclass(frozen=True)
class EncoderLayer:
    """One encoder layer: attention heads (each ``head_dim`` wide) and feed-forward width."""

    heads: int
    ffn: int

    def __str__(self) -> str:
        return f"h{self.heads}-f{self.ffn}"


@dataclass(frozen=True)
class TransformerArch(Arch):
    """A ``transformer`` architecture: the embedding width and the encoder layers (the
    depth is their number)."""

    space_name: ClassVar[str] = "transformer"
    embed: int
    layers: tuple[EncoderLayer, ...]

    def __str__(self) -> str:
        return "|".join([f"e{self.embed}", *map(str, self.layers)])

    @property
    def depth(self) -> int:
        """The number of encoder layers."""
        return len(self.layers)


def is_token_shape(input_shape: Sequence[int]) -> bool:
    """Whether ``input_shape`` is one sequence of token ids ``(L,)`` (else an image
    ``(C, H, W)``, read as a sequence of ``H * W`` pixels of ``C`` features)."""
    return len(input_shape) == 1


def sequence_length(input_shape: Sequence[int]) -> int:
    """The number of tokens a model of this space sees for one ``input_shape`` sample."""
    if is_token_shape(input_shape):
        return int(input_shape[0])
    return int(input_shape[-2]) * int(input_shape[-1])
