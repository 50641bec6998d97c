"""The closed-form operator list of ``transformer`` models (costs and predictor features).

Each operator of one sample's forward pass over ``L`` tokens, with the
:class:`~hwnas.costs.Layer` kinds the predictor features know: linear projections and the
two attention matrix products are ``fc`` (``h_out`` is ``L``: one product per token),
layer norms ``bn``, the softmax ``act``, the embedding's position add and the residual
sums ``add``, the mean over tokens ``pool``. Stage ``-1`` is the embedding, ``i`` the
``i``-th encoder layer, ``depth`` the head. MACs equal fvcore's count (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

from hwnas.costs import Layer
from hwnas.spaces.transformer.arch import TransformerArch, is_token_shape, sequence_length


def transformer_layers(
    arch: TransformerArch,
    shape: Sequence[int],
    classes: int,
    vocab_size: int,
    head_dim: int,
) -> list[Layer]:
    """The operators of the ``transformer`` model of ``arch``, in order, with their costs."""
    length, e = sequence_length(shape), arch.embed
    position = length * e
    if is_token_shape(shape):  # a table look-up: parameters, no multiply-accumulates
        layers = [Layer("add", -1, 1, e, e, length, 1, 0, vocab_size * e + position)]
    else:
        layers = [
            _linear(-1, shape[0], e, length),
            Layer("add", -1, 1, e, e, length, 1, 0, position),
        ]
    for i, layer in enumerate(arch.layers):
        a = layer.heads * head_dim
        layers += [
            _norm(i, e, length),
            *(_linear(i, e, a, length) for _ in range(3)),  # q, k, v
            Layer("fc", i, 1, a, length, length, 1, length * length * a, 0),  # q @ k^T
            Layer("act", i, 1, length, length, length * layer.heads, 1, 0, 0),  # softmax
            Layer("fc", i, 1, length, a, length, 1, length * length * a, 0),  # scores @ v
            _linear(i, a, e, length),
            Layer("add", i, 1, e, e, length, 1, 0, 0),
            _norm(i, e, length),
            _linear(i, e, layer.ffn, length, "relu"),
            _linear(i, layer.ffn, e, length),
            Layer("add", i, 1, e, e, length, 1, 0, 0),
        ]
    head = arch.depth
    return [
        *layers,
        _norm(head, e, length),
        Layer("pool", head, length, e, e, 1, 1, 0, 0),
        _linear(head, e, classes, 1),
    ]


def _linear(stage: int, c_in: int, c_out: int, tokens: int, act: str = "") -> Layer:
    """A linear layer (with bias) applied to each of ``tokens`` tokens."""
    return Layer(
        "fc", stage, 1, c_in, c_out, tokens, 1, tokens * c_in * c_out, (c_in + 1) * c_out, act
    )


def _norm(stage: int, features: int, tokens: int) -> Layer:
    return Layer("bn", stage, 1, features, features, tokens, 1, 0, 2 * features)
