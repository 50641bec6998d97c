"""The ``transformer`` super-transformer: HAT's weight sharing.

Every layer slot holds the projections of the largest layer; a subnet uses the first
``embed`` input / output features of each (the embedding width is shared by all layers),
the first ``heads * head_dim`` features of the attention projections and the first
``ffn`` features of the feed-forward block. Layer norms take their first ``embed``
scales and shifts, the token (or pixel) and position embeddings their first ``embed``
columns, and the first ``depth`` slots run. :meth:`TransformerSupernet.extract` copies
those slices into the standalone model, which computes the same function.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.nn.supernet.base import Supernet
from hwnas.spaces.base import Arch
from hwnas.spaces.transformer.arch import TransformerArch, is_token_shape, sequence_length
from hwnas.spaces.transformer.model import (
    Block,
    TransformerNet,
    encoder_layer,
    init_weights,
    pool,
    tokens_of,
)

if TYPE_CHECKING:
    from hwnas.spaces.transformer.space import TransformerSpace


class SlicedLinear(nn.Linear):
    """A linear layer sliced to the input's last dimension and ``c_out`` outputs (any
    number of leading dimensions, unlike the channel-first ``DynamicLinear``)."""

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:  # type: ignore[override]
        c_out = self.out_features if c_out is None else c_out
        return F.linear(x, self.weight[:c_out, : x.shape[-1]], self.bias[:c_out])

    @torch.no_grad()
    def copy_to(self, dst: nn.Linear) -> None:
        """Copy the first ``dst.out_features`` x ``dst.in_features`` slice into ``dst``."""
        dst.weight.copy_(self.weight[: dst.out_features, : dst.in_features])
        dst.bias.copy_(self.bias[: dst.out_features])


class SlicedLayerNorm(nn.LayerNorm):
    """A layer norm over the input's (active) last dimension, with its first scales."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = x.shape[-1]
        return F.layer_norm(x, (e,), self.weight[:e], self.bias[:e], self.eps)

    @torch.no_grad()
    def copy_to(self, dst: nn.LayerNorm) -> None:
        """Copy the first ``dst`` features' scales and shifts into ``dst``."""
        e = dst.normalized_shape[0]
        dst.weight.copy_(self.weight[:e])
        dst.bias.copy_(self.bias[:e])


class LayerSlot(nn.Module):
    """One encoder layer position at its largest size."""

    def __init__(self, embed: int, attention: int, ffn: int) -> None:
        super().__init__()
        self.ln1 = SlicedLayerNorm(embed)
        self.q = SlicedLinear(embed, attention)
        self.k = SlicedLinear(embed, attention)
        self.v = SlicedLinear(embed, attention)
        self.out = SlicedLinear(attention, embed)
        self.ln2 = SlicedLayerNorm(embed)
        self.fc1 = SlicedLinear(embed, ffn)
        self.fc2 = SlicedLinear(ffn, embed)

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        attention: int,
        ffn: int,
        heads: int,
        key_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        e = x.shape[-1]
        ops = (
            self.ln1,
            partial(self.q, c_out=attention),
            partial(self.k, c_out=attention),
            partial(self.v, c_out=attention),
            partial(self.out, c_out=e),
            self.ln2,
            partial(self.fc1, c_out=ffn),
            partial(self.fc2, c_out=e),
        )
        return encoder_layer(x, ops, heads, key_mask)

    def copy_to(self, block: Block) -> None:
        """Copy the slices ``block``'s sizes select into it."""
        for name in ("ln1", "q", "k", "v", "out", "ln2", "fc1", "fc2"):
            getattr(self, name).copy_to(getattr(block, name))


class TransformerSupernet(Supernet):
    """The super-transformer of a :class:`~hwnas.spaces.transformer.TransformerSpace`.

    Args:
        space: The ``transformer`` space.
        input_shape: ``(L,)`` token ids or ``(C, H, W)`` images.
        num_classes: Number of output logits.
    """

    space: TransformerSpace

    def __init__(
        self, space: TransformerSpace, input_shape: tuple[int, ...], num_classes: int
    ) -> None:
        super().__init__(space, cast(tuple[int, int, int], input_shape), num_classes)
        e = max(space.embed_dims)
        self.embed: nn.Module = (
            nn.Embedding(space.vocab_size, e)
            if is_token_shape(input_shape)
            else SlicedLinear(input_shape[0], e)
        )
        self.position = nn.Parameter(torch.zeros(sequence_length(input_shape), e))
        attention = max(space.heads) * space.head_dim
        self.slots = nn.ModuleList(
            LayerSlot(e, attention, max(space.ffn_dims)) for _ in range(space.max_depth)
        )
        self.norm = SlicedLayerNorm(e)
        self.classifier = SlicedLinear(e, num_classes)
        init_weights(self)

    def forward_arch(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        assert isinstance(arch, TransformerArch)
        e = arch.embed
        tokens, key_mask = tokens_of(x)
        if isinstance(self.embed, nn.Embedding):
            h = self.embed(tokens)[..., :e]
        else:
            h = self.embed(tokens, c_out=e)
        h = h + self.position[:, :e]
        for slot, layer in zip(self.slots, arch.layers, strict=False):
            h = slot(h, layer.heads * self.space.head_dim, layer.ffn, layer.heads, key_mask)
        return cast(torch.Tensor, self.classifier(pool(self.norm(h), key_mask)))

    @torch.no_grad()
    def extract(self, arch: Arch) -> TransformerNet:
        arch = self.check_arch(arch)
        assert isinstance(arch, TransformerArch)
        # space.build rather than Supernet._standalone: build_model's shape check takes
        # (C, H, W) images only, and this space also builds for (L,) token ids.
        with torch.random.fork_rng(devices=[]):
            model = self.space.build(arch, self.input_shape, self.num_classes)
        model.train(self.training)
        assert isinstance(model, TransformerNet)
        e = arch.embed
        if isinstance(self.embed, nn.Embedding):
            cast(nn.Embedding, model.embed).weight.copy_(self.embed.weight[:, :e])
        else:
            cast(SlicedLinear, self.embed).copy_to(cast(nn.Linear, model.embed))
        model.position.copy_(self.position[:, :e])
        for slot, block in zip(self.slots, model.blocks, strict=False):
            cast(LayerSlot, slot).copy_to(cast(Block, block))
        self.norm.copy_to(model.norm)
        self.classifier.copy_to(model.classifier)
        return model
