"""Classic hand-designed networks sized for the input, to compare the Pareto set against.

For images: ``lenet5`` (LeNet-5-like), ``mobilenetv2`` (a small MobileNetV2) and
``resnet8`` (a ResNet-8 as in the CIFAR ResNet family). Each adapts its strides to the
input like the ``mbconv`` space does, so the same names work from 8x8 digits to 224x224
images, and each exports to ONNX at any input size. They are the fallback for spaces that
cannot express them: ``convnet`` has all three as architectures (:mod:`hwnas.baselines`
builds them from it), and ResNet-8 here is built from the same basic block.

For token ids ``(L,)``: ``encoder-2x128`` (a 2-layer, 128-wide transformer encoder, an
architecture of the default ``transformer`` space, built here for spaces that lack it)
and ``textcnn`` (a small 1-D CNN over token embeddings). :data:`TOKEN_NETWORKS` names
the networks that read token ids; :func:`handmade_for` lists the networks for an input
shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwnas.data.readers.text import DEFAULT_VOCAB as TEXT_DEFAULT_VOCAB
from hwnas.errors import ConfigError
from hwnas.nn.build import InputShape, check_input_shape
from hwnas.spaces.convnet.model import BasicBlock

#: Every network: images ``(shape, classes)``; token networks also take ``vocab_size``.
HANDMADE: dict[str, Callable[..., nn.Module]] = {}
#: The networks of :data:`HANDMADE` that read token ids ``(L,)`` (the rest read images).
TOKEN_NETWORKS: set[str] = set()
#: The vocabulary a token network gets when none is given: the text readers' default cap.
DEFAULT_VOCAB = TEXT_DEFAULT_VOCAB


def _register(
    name: str, tokens: bool = False
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        HANDMADE[name] = fn
        if tokens:
            TOKEN_NETWORKS.add(name)
        return fn

    return decorator


def reads_tokens(name: str) -> bool:
    """Whether the network ``name`` reads token ids (else images)."""
    return name in TOKEN_NETWORKS


def handmade_for(input_shape: InputShape) -> tuple[str, ...]:
    """The networks that read inputs of ``input_shape`` (token ids or images), sorted."""
    tokens = len(input_shape) == 1
    return tuple(sorted(n for n in HANDMADE if reads_tokens(n) == tokens))


def build_handmade(
    name: str, input_shape: InputShape, num_classes: int, vocab_size: int = DEFAULT_VOCAB
) -> nn.Module:
    """The hand-designed network ``name`` for ``input_shape`` and ``num_classes``.

    Args:
        name: One of :data:`HANDMADE`.
        input_shape: ``(C, H, W)`` for image networks, ``(L,)`` for token networks.
        num_classes: Number of output logits.
        vocab_size: Token ids are ``0..vocab_size-1`` (token networks only).

    Raises:
        ConfigError: An unknown name, or an input the network does not read.
    """
    shape = check_input_shape(input_shape, num_classes)
    if name not in HANDMADE:
        raise ConfigError("baseline", f"one of {', '.join(sorted(HANDMADE))}", name)
    if name not in handmade_for(shape):
        kind = "token ids (L,)" if reads_tokens(name) else "images (C, H, W)"
        raise ConfigError("input_shape", f"{kind} for network {name!r}", shape)
    if reads_tokens(name):
        return HANDMADE[name](shape, num_classes, vocab_size)
    return HANDMADE[name](shape, num_classes)


def _pool_if(size: int) -> tuple[nn.Module, int]:
    """A 2x2 max-pool while the map is at least 4 pixels, else identity."""
    return (nn.MaxPool2d(2), size // 2) if size >= 4 else (nn.Identity(), size)


def _pool_to_2x2(h: int, w: int) -> nn.Module:
    """Average pooling of an ``h x w`` map (both at least 2) to 2x2, exportable to ONNX.

    ``AdaptiveAvgPool2d(2)`` is what is meant, but the ONNX exporter only takes it when the
    map divides evenly (7x7, from 28x28 MNIST, does not). Its windows are ``[0, ceil(n/2))``
    and ``[floor(n/2), n)`` along each side: a plain average pool with kernel ``ceil(n/2)``
    and stride ``floor(n/2)`` has the same windows, hence the same outputs, for any size.
    """
    if h % 2 == 0 and w % 2 == 0:
        return nn.AdaptiveAvgPool2d(2)  # exports as is (the 8x8 digits case: 2x2 -> 2x2)
    kernel = (-(-h // 2), -(-w // 2))
    return nn.AvgPool2d(kernel, stride=(h // 2, w // 2))


@_register("lenet5")
def lenet5(shape: tuple[int, int, int], classes: int) -> nn.Module:
    """LeNet-5-like: two 5x5 conv + pool stages (6 and 16 channels), FC 120-84-classes."""
    c, h, w = shape
    size = min(h, w)
    pool1, size = _pool_if(size)
    pool2, size = _pool_if(size)
    # Each max-pool halves both sides (rounding down), as it does the smaller one.
    halvings = sum(isinstance(p, nn.MaxPool2d) for p in (pool1, pool2))
    h, w = h >> halvings, w >> halvings
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2),
        nn.ReLU(),
        pool1,
        nn.Conv2d(6, 16, 5, padding=2),
        nn.ReLU(),
        pool2,
        _pool_to_2x2(h, w) if size >= 2 else nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16 * (4 if size >= 2 else 1), 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, classes),
    )


@_register("resnet8")
def resnet8(shape: tuple[int, int, int], classes: int) -> nn.Module:
    """ResNet-8: a 3x3 stem and three basic blocks of 16, 32, 64 channels."""
    c, h, w = shape
    size = min(h, w)
    layers: list[nn.Module] = [nn.Conv2d(c, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for i, c_out in enumerate((16, 32, 64)):
        stride = 2 if i > 0 and size >= 4 else 1
        size = -(-size // stride)
        layers.append(BasicBlock(c_in, c_out, 3, stride))
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes)]
    return nn.Sequential(*layers)


class _InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.body = nn.Sequential(
            nn.Conv2d(c_in, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU6(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU6(),
            nn.Conv2d(mid, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


@_register("mobilenetv2")
def mobilenetv2(shape: tuple[int, int, int], classes: int) -> nn.Module:
    """A small MobileNetV2 (width 0.5): inverted residuals with expand ratio 6."""
    c, h, w = shape
    size = min(h, w)
    stem_stride = 2 if size >= 64 else 1
    size = -(-size // stem_stride)
    layers: list[nn.Module] = [
        nn.Conv2d(c, 16, 3, stem_stride, 1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU6(),
    ]
    c_in = 16
    # (expand, channels, blocks, stride): MobileNetV2's table at width 0.5, shortened.
    for expand, c_out, blocks, stride in (
        (1, 8, 1, 1),
        (6, 16, 2, 2),
        (6, 24, 2, 2),
        (6, 32, 2, 2),
        (6, 48, 1, 1),
        (6, 80, 1, 2),
    ):
        for b in range(blocks):
            s = stride if b == 0 and size >= 4 else 1
            size = -(-size // s)
            layers.append(_InvertedResidual(c_in, c_out, s, expand))
            c_in = c_out
    layers += [
        nn.Conv2d(c_in, 320, 1, bias=False),
        nn.BatchNorm2d(320),
        nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(320, classes),
    ]
    return nn.Sequential(*layers)


@_register("encoder-2x128", tokens=True)
def encoder_2x128(shape: InputShape, classes: int, vocab_size: int) -> nn.Module:
    """The 2-layer, 128-wide encoder (4 heads of 32, feed-forward 512) of the default
    ``transformer`` space: ``e128|h4-f512|h4-f512``."""
    from hwnas.spaces.transformer import BASELINES, TransformerSpace

    space = TransformerSpace(vocab_size=vocab_size)
    return space.build(space.parse(BASELINES["encoder-2x128"]), shape, classes)


class TextCNN(nn.Module):
    """A small 1-D CNN over token embeddings (characters or words): a 64-wide embedding,
    two 5-wide convolutions of 128 channels with ReLU (the first followed by a 2x
    max-pool), the maximum over positions and a linear classifier. Padding (id 0) is
    embedded like any token; the maximum over positions lets the network learn to ignore
    it."""

    def __init__(self, classes: int, vocab_size: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 64)
        self.features = nn.Sequential(
            nn.Conv1d(64, 128, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(2, ceil_mode=True),
            nn.Conv1d(128, 128, 5, padding=2),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(128, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(self.embed(x).transpose(1, 2))
        return self.classifier(torch.amax(h, dim=-1))


@_register("textcnn", tokens=True)
def textcnn(shape: InputShape, classes: int, vocab_size: int) -> nn.Module:
    """A 1-D token CNN (:class:`TextCNN`) for sequences of any length."""
    del shape  # the maximum over positions takes any length
    return TextCNN(classes, vocab_size)
