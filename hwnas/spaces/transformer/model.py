"""Models of the ``transformer`` space: a pre-norm encoder for sequence classification.

Token ids ``(N, L)`` (int64, 0 is padding) go through a token embedding; images
``(N, C, H, W)`` are read as ``H * W`` pixel tokens of ``C`` features through a linear
embedding (a ViT with 1x1 patches), so that the space also runs on the image datasets.
A learned position embedding is added; each layer is pre-norm multi-head self-attention
and a ReLU feed-forward block, both residual; a final layer norm, mean pooling over the
(non-padding) tokens and a linear classifier follow. Attention is written with two
``torch.matmul`` calls rather than ``scaled_dot_product_attention`` because fvcore counts
``matmul`` (and has no handle for the fused operator): the closed-form MACs then equal
fvcore's, attention included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from hwnas.nn.build import HwnasNet
from hwnas.spaces.transformer.arch import TransformerArch, is_token_shape, sequence_length

#: The token id of padding: attention ignores it and pooling leaves it out.
PAD_ID = 0
#: Added to the attention scores of padding keys. Finite, not ``-inf``: an all-padding
#: sequence then gives uniform attention instead of NaN.
MASKED_SCORE = -1e4

Op = Callable[[torch.Tensor], torch.Tensor]


def self_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, key_mask: torch.Tensor | None
) -> torch.Tensor:
    """Multi-head scaled dot-product attention of projected ``(N, L, A)`` tensors."""
    head_dim = q.shape[-1] // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], -1, heads, head_dim).transpose(1, 2)

    scores = torch.matmul(split(q), split(k).transpose(-2, -1)) * head_dim**-0.5
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], MASKED_SCORE)
    out = torch.matmul(torch.softmax(scores, dim=-1), split(v))
    return out.transpose(1, 2).reshape(q.shape[0], -1, q.shape[-1])


def encoder_layer(
    x: torch.Tensor,
    ops: tuple[Op, Op, Op, Op, Op, Op, Op, Op],
    heads: int,
    key_mask: torch.Tensor | None,
) -> torch.Tensor:
    """One pre-norm encoder layer; ``ops`` are its layer norms and projections in the
    order ``ln1, q, k, v, out, ln2, fc1, fc2`` (standalone modules, or supernet slices)."""
    ln1, q, k, v, out, ln2, fc1, fc2 = ops
    h = ln1(x)
    x = x + out(self_attention(q(h), k(h), v(h), heads, key_mask))
    return x + fc2(torch.relu(fc1(ln2(x))))


def pool(x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
    """The mean over the tokens of ``x`` ``(N, L, E)``, padding left out."""
    if key_mask is None:
        return x.mean(dim=1)
    weights = key_mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def tokens_of(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The model input as a sequence: token ids ``(N, L)`` unchanged with their padding
    mask, or an image ``(N, C, H, W)`` as ``(N, H * W, C)`` pixel features, no mask."""
    if x.dim() == 2:
        return x, x != PAD_ID
    return x.flatten(2).transpose(1, 2), None


class Block(nn.Module):
    """One encoder layer of a standalone model (see :func:`encoder_layer`)."""

    def __init__(self, embed: int, attention: int, ffn: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(embed)
        self.q = nn.Linear(embed, attention)
        self.k = nn.Linear(embed, attention)
        self.v = nn.Linear(embed, attention)
        self.out = nn.Linear(attention, embed)
        self.ln2 = nn.LayerNorm(embed)
        self.fc1 = nn.Linear(embed, ffn)
        self.fc2 = nn.Linear(ffn, embed)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        ops = (self.ln1, self.q, self.k, self.v, self.out, self.ln2, self.fc1, self.fc2)
        return encoder_layer(x, ops, self.heads, key_mask)


class TransformerNet(HwnasNet):
    """A network of the ``transformer`` space.

    Args:
        arch: The architecture.
        input_shape: ``(L,)`` for token ids, ``(C, H, W)`` for images.
        num_classes: Number of output logits.
        vocab_size: Token ids are ``0..vocab_size-1`` (token inputs only).
        head_dim: Width of one attention head.

    Attributes:
        embed: The token embedding (``nn.Embedding``) or pixel embedding (``nn.Linear``).
        position: The learned position embedding ``(L, embed)``.
        blocks: The encoder layers.
        norm: The final layer norm.
        classifier: The last linear layer.
    """

    def __init__(
        self,
        arch: TransformerArch,
        input_shape: tuple[int, ...],
        num_classes: int,
        vocab_size: int,
        head_dim: int,
    ) -> None:
        super().__init__(arch, cast(tuple[int, int, int], input_shape), num_classes)
        e = arch.embed
        self.embed: nn.Module = (
            nn.Embedding(vocab_size, e)
            if is_token_shape(input_shape)
            else nn.Linear(input_shape[0], e)
        )
        self.position = nn.Parameter(torch.zeros(sequence_length(input_shape), e))
        self.blocks = nn.ModuleList(
            Block(e, layer.heads * head_dim, layer.ffn, layer.heads) for layer in arch.layers
        )
        self.norm = nn.LayerNorm(e)
        self.classifier = nn.Linear(e, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, key_mask = tokens_of(x)
        h = self.embed(tokens) + self.position
        for block in self.blocks:
            h = block(h, key_mask)
        return cast(torch.Tensor, self.classifier(pool(self.norm(h), key_mask)))

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """Zeros of the input shape: int64 token ids, or a float32 image."""
        if is_token_shape(self.input_shape):
            return torch.zeros(batch_size, *self.input_shape, dtype=torch.int64)
        return super().example_input(batch_size)


def init_weights(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) linear and embedding weights, zero biases, unit layer
    norms and a small random position embedding (BERT's / ViT's initialisation)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for name, p in module.named_parameters():
        if name.split(".")[-1] == "position":
            nn.init.trunc_normal_(p, std=0.02)
