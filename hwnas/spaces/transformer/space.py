"""The ``transformer`` space: a weight-sliced encoder for sequence classification (HAT).

As in Hardware-Aware Transformers (Wang et al., 2020), one super-transformer holds every
architecture: the embedding width is elastic and shared by all layers, the depth is
elastic (the first ``depth`` layers run), and each layer has its own number of attention
heads (each ``head_dim`` wide, so the attention width is ``heads * head_dim``) and its own
feed-forward width. The defaults are sized for a CPU: widths 64-128, 1-4 layers, 1-4 heads
of 32, feed-forward 128-512; the largest network on 128 tokens is about 0.12 G MACs.

Inputs are token ids ``(L,)`` (a vocabulary of ``vocab_size``, 0 is padding) or images
``(C, H, W)``, read as ``H * W`` pixel tokens (see :mod:`.model`).

String form ``e128|h4-f512|h2-f256`` (see :mod:`.arch`). Encoding: ``[embed, depth]``, then
``[heads, ffn]`` for each of ``max(depths)`` layer slots; the genes of slots beyond the
depth have no effect, are written as 0 by :meth:`TransformerSpace.encode` and reported by
:meth:`TransformerSpace.active_genes`. Distinct encodings build distinct networks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.errors import ArchError, ConfigError
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.spaces.registry import register_space
from hwnas.spaces.transformer.arch import EncoderLayer, TransformerArch

if TYPE_CHECKING:
    from hwnas.costs import Layer
    from hwnas.nn.build import HwnasNet
    from hwnas.nn.supernet.base import Supernet

_EMBED_RE = re.compile(r"^e(?P<embed>\d+)$")
_LAYER_RE = re.compile(r"^h(?P<heads>\d+)-f(?P<ffn>\d+)$")

#: Hand-designed networks that are architectures of the default space.
BASELINES: dict[str, str] = {
    # The small text encoder of the issue: two layers, 128 wide, 4 heads of 32 (attention
    # as wide as the embedding) and the usual 4x feed-forward.
    "encoder-2x128": "e128|h4-f512|h4-f512",
}


@register_space("transformer")
class TransformerSpace(SearchSpace):
    """Encoders with elastic depth, embedding width, heads and feed-forward width per layer.

    Args:
        embed_dims: Embedding widths (shared by all layers of a network).
        depths: Numbers of encoder layers.
        heads: Numbers of attention heads of a layer.
        ffn_dims: Feed-forward widths of a layer.
        head_dim: Width of one attention head.
        vocab_size: Size of the token vocabulary (ids ``0..vocab_size-1``; token inputs).

    Raises:
        ConfigError: An argument is not a non-empty set of distinct positive integers.
    """

    name = "transformer"
    version = "1"

    def __init__(
        self,
        embed_dims: Sequence[int] = (64, 96, 128),
        depths: Sequence[int] = (1, 2, 3, 4),
        heads: Sequence[int] = (1, 2, 4),
        ffn_dims: Sequence[int] = (128, 256, 512),
        head_dim: int = 32,
        vocab_size: int = 256,
    ) -> None:
        self.embed_dims = _choices("embed_dims", embed_dims)
        self.depths = _choices("depths", depths)
        self.heads = _choices("heads", heads)
        self.ffn_dims = _choices("ffn_dims", ffn_dims)
        self.head_dim = _positive("head_dim", head_dim, 1)
        self.vocab_size: int = _positive("vocab_size", vocab_size, 2)

    @property
    def max_depth(self) -> int:
        """The number of layer slots."""
        return max(self.depths)

    # -- the encoding -------------------------------------------------------------------
    @property
    def n_choices(self) -> tuple[int, ...]:
        per_layer = (len(self.heads), len(self.ffn_dims))
        return (len(self.embed_dims), len(self.depths), *per_layer * self.max_depth)

    def encode(self, arch: Arch) -> tuple[int, ...]:
        arch = self._check(arch)
        genes = [
            _index("embedding width", arch.embed, self.embed_dims),
            _index("depth", arch.depth, self.depths),
        ]
        for layer in arch.layers:
            genes += [
                _index("heads", layer.heads, self.heads),
                _index("ffn width", layer.ffn, self.ffn_dims),
            ]
        return tuple(genes + [0] * 2 * (self.max_depth - arch.depth))

    def decode(self, encoding: Sequence[int]) -> TransformerArch:
        g = self.validate_encoding(encoding)
        depth = self.depths[g[1]]
        layers = tuple(
            EncoderLayer(self.heads[g[2 + 2 * i]], self.ffn_dims[g[3 + 2 * i]])
            for i in range(depth)
        )
        return TransformerArch(self.embed_dims[g[0]], layers)

    def active_genes(self, encodings: np.ndarray) -> np.ndarray:
        """Embedding and depth always; a layer slot's two genes while it is within the depth."""
        enc = np.atleast_2d(np.asarray(encodings, dtype=int))
        depth = np.asarray(self.depths)[enc[:, 1]]
        slot = np.repeat(np.arange(self.max_depth), 2)
        mask = np.ones(enc.shape, dtype=bool)
        mask[:, 2:] = slot[None, :] < depth[:, None]
        return mask.reshape(np.shape(encodings))

    def parse(self, text: str) -> TransformerArch:
        parts = str(text).strip().split("|")
        embed = _EMBED_RE.match(parts[0])
        if embed is None:
            raise ArchError(f"transformer: expected 'e<width>' first, got {parts[0]!r} in {text!r}")
        layers = []
        for part in parts[1:]:
            m = _LAYER_RE.match(part)
            if m is None:
                raise ArchError(f"transformer layer: expected 'h<heads>-f<ffn>', got {part!r}")
            layers.append(EncoderLayer(int(m["heads"]), int(m["ffn"])))
        arch = TransformerArch(int(embed["embed"]), tuple(layers))
        self.encode(arch)  # every choice must be one of the space's
        return arch

    def size(self) -> int:
        per_layer = len(self.heads) * len(self.ffn_dims)
        return len(self.embed_dims) * sum(per_layer**d for d in self.depths)

    def config(self) -> dict[str, Any]:
        return {
            "embed_dims": list(self.embed_dims),
            "depths": list(self.depths),
            "heads": list(self.heads),
            "ffn_dims": list(self.ffn_dims),
            "head_dim": self.head_dim,
            "vocab_size": self.vocab_size,
        }

    def smallest(self) -> TransformerArch:
        """The narrowest, shallowest network with the fewest heads and narrowest FFN."""
        layer = EncoderLayer(min(self.heads), min(self.ffn_dims))
        return TransformerArch(min(self.embed_dims), (layer,) * min(self.depths))

    def largest(self) -> TransformerArch:
        """The widest, deepest network with the most heads and widest FFN."""
        layer = EncoderLayer(max(self.heads), max(self.ffn_dims))
        return TransformerArch(max(self.embed_dims), (layer,) * self.max_depth)

    # -- the plugin bundle ------------------------------------------------------------------
    def build(self, arch: Arch, input_shape: tuple[int, ...], num_classes: int) -> HwnasNet:
        from hwnas.spaces.transformer.model import TransformerNet

        return TransformerNet(
            self._check(arch), input_shape, num_classes, self.vocab_size, self.head_dim
        )

    def layers(self, arch: Arch, input_shape: tuple[int, ...], num_classes: int) -> list[Layer]:
        from hwnas.spaces.transformer.layers import transformer_layers

        return transformer_layers(
            self._check(arch), input_shape, num_classes, self.vocab_size, self.head_dim
        )

    def build_supernet(self, input_shape: tuple[int, ...], num_classes: int) -> Supernet:
        from hwnas.spaces.transformer.supernet import TransformerSupernet

        return TransformerSupernet(self, input_shape, num_classes)

    def baselines(self) -> dict[str, str]:
        """The 2-layer, 128-wide encoder, when this space contains it."""
        out = {}
        for name, text in BASELINES.items():
            try:
                out[name] = str(self.parse(text))
            except ArchError:
                continue
        return out

    def describe(self, arch: Arch) -> dict[str, Any]:
        arch = self._check(arch)
        return {
            "depth": arch.depth,
            "embed": arch.embed,
            "attention_widths": [layer.heads * self.head_dim for layer in arch.layers],
            "heads": [layer.heads for layer in arch.layers],
            "ffn": [layer.ffn for layer in arch.layers],
        }

    def _check(self, arch: Arch) -> TransformerArch:
        if not isinstance(arch, TransformerArch):
            raise ArchError(f"expected a transformer architecture, got {type(arch).__name__}")
        return arch


def _choices(field: str, values: Sequence[int]) -> tuple[int, ...]:
    """``values`` as distinct positive integers."""
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(field, "distinct positive integers", values) from None
    if not out or min(out) < 1 or len(set(out)) != len(out):
        raise ConfigError(field, "distinct positive integers", values)
    return out


def _positive(field: str, value: object, minimum: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ConfigError(field, f"an integer >= {minimum}", value)
    return int(value)


def _index(what: str, value: object, choices: Sequence[Any]) -> int:
    try:
        return list(choices).index(value)
    except ValueError:
        raise ArchError(
            f"transformer {what}: expected one of {tuple(choices)}, got {value!r}"
        ) from None
