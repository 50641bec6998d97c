"""The ``convnet`` space: a CNN for small inputs (8x8 to 32x32; it builds at any size).

A network is a stem (conv-BN-ReLU), one to four stages and a head. Each stage has a depth
(0: absent; absent stages come last, so the number of stages is searchable), a block type
(``plain`` conv-BN-ReLU, ``basic`` ResNet block, ``mbconv`` inverted residual with an expand
ratio), a width, a kernel and the stride of its first block. The head has an optional 1x1
convolution, global average pooling, an optional hidden fully connected layer and the
classifier. LeNet-5-like, ResNet-8 and small MobileNetV2 networks are architectures of the
space (:data:`BASELINES`), so a search over it can find them or better.

String form: stem, one entry per stage slot (``-`` when absent), head, ``|``-separated::

    s16k3|plain-c16-k5-d1-s2|mbconv-c32-k3-e6-d2-s2|-|-|h128-f0

Encoding: ``[stem kernel, stem channels]``, then per stage ``[depth, block, width, kernel,
expand, stride]``, then ``[head conv, hidden fc]``. Genes without effect (everything of
an absent stage and of the stages after it, the expand ratio of non-``mbconv`` stages) are
written as 0 by :meth:`ConvNetSpace.encode` and reported by
:meth:`ConvNetSpace.active_genes`. Distinct encodings therefore build distinct networks,
except that a stride of 2 is dropped on maps smaller than 4 pixels (which depends on the
input, not on the architecture).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.errors import ArchError, ConfigError
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.spaces.convnet.arch import BLOCK_TYPES, ConvNetArch, Head, Stage, Stem
from hwnas.spaces.registry import register_space

if TYPE_CHECKING:
    from hwnas.costs import Layer
    from hwnas.nn.build import HwnasNet
    from hwnas.nn.supernet.base import Supernet

_STEM_RE = re.compile(r"^s(?P<channels>\d+)k(?P<kernel>\d+)$")
_STAGE_RE = re.compile(
    r"^(?P<block>[a-z]+)-c(?P<channels>\d+)-k(?P<kernel>\d+)(?:-e(?P<expand>\d+))?"
    r"-d(?P<depth>\d+)-s(?P<stride>\d+)$"
)
_HEAD_RE = re.compile(r"^h(?P<conv>\d+)-f(?P<fc>\d+)$")
_STAGE_GENES = 6

#: The hand-designed networks as architectures: (stem, stages, head) strings.
BASELINES: dict[str, tuple[str, tuple[str, ...], str]] = {
    # LeNet-5's two 5x5 convolutions and two subsamplings, as a 5x5 stem (8 channels) and
    # two 5x5 stride-2 convolutions (8, 16 channels); global average pooling and one
    # hidden layer of 128 instead of flattening into 120-84; batch norm.
    "lenet5": ("s8k5", ("plain-c8-k5-d1-s2", "plain-c16-k5-d1-s2"), "h0-f128"),
    # ResNet-8 exactly as hwnas.nn.handmade builds it.
    "resnet8": (
        "s16k3",
        ("basic-c16-k3-d1-s1", "basic-c32-k3-d1-s2", "basic-c64-k3-d1-s2"),
        "h0-f0",
    ),
    # MobileNetV2 at width 0.5, shortened to four stages (8, 16, 32, 64 channels, expand 6
    # after the first) and a 256-channel head; ReLU for ReLU6.
    "mobilenetv2": (
        "s16k3",
        (
            "mbconv-c8-k3-e1-d1-s1",
            "mbconv-c16-k3-e6-d2-s2",
            "mbconv-c32-k3-e6-d2-s2",
            "mbconv-c64-k3-e6-d1-s2",
        ),
        "h256-f0",
    ),
}


@register_space("convnet")
class ConvNetSpace(SearchSpace):
    """A CNN for small inputs whose architectures include LeNet-5, ResNet-8 and MobileNetV2
    shapes (see the module docstring).

    Args:
        num_stages: Stage slots.
        depths: Allowed blocks per stage; 0 lets a stage be absent (never the first).
        blocks: Allowed block types (a subset of ``plain``, ``basic``, ``mbconv``).
        widths: Allowed stage output channels.
        kernels: Allowed kernel sizes of the stages' convolutions (odd).
        expands: Allowed expand ratios of ``mbconv`` blocks.
        strides: Allowed strides of a stage's first block (1, 2).
        stem_kernels: Allowed stem kernel sizes (odd).
        stem_channels: Allowed stem channels.
        head_channels: Allowed channels of the head's 1x1 convolution (0: none).
        fc_hidden: Allowed units of the hidden fully connected layer (0: none).
    """

    name = "convnet"
    version = "1"
    #: Convolutions of 8 to 256 channels on 1-64 pixel maps cost very differently per MAC:
    #: ``ops-shape`` splits them (92 % of held-out architectures within ±10 % on this
    #: project's CPU at 1x8x8, against 74 % with ``ops,costs`` alone).
    predictor_features = ("ops", "costs", "ops-shape")

    def __init__(
        self,
        num_stages: int = 4,
        depths: Sequence[int] = (0, 1, 2, 3),
        blocks: Sequence[str] = BLOCK_TYPES,
        widths: Sequence[int] = (8, 16, 32, 64),
        kernels: Sequence[int] = (3, 5),
        expands: Sequence[int] = (1, 3, 6),
        strides: Sequence[int] = (1, 2),
        stem_kernels: Sequence[int] = (3, 5),
        stem_channels: Sequence[int] = (8, 16, 24),
        head_channels: Sequence[int] = (0, 64, 128, 256),
        fc_hidden: Sequence[int] = (0, 64, 128),
    ) -> None:
        if isinstance(num_stages, bool) or not isinstance(num_stages, int) or num_stages < 1:
            raise ConfigError("num_stages", "an integer >= 1", num_stages)
        self.num_stages = num_stages
        self.depths = _choices("depths", depths, 0)
        if max(self.depths) < 1:
            raise ConfigError("depths", "at least one depth >= 1", depths)
        self.blocks = tuple(str(b) for b in blocks)
        if not self.blocks or set(self.blocks) - set(BLOCK_TYPES) or _repeats(self.blocks):
            raise ConfigError("blocks", f"distinct block types of {BLOCK_TYPES}", blocks)
        self.widths = _choices("widths", widths, 1)
        self.kernels = _choices("kernels", kernels, 1, odd=True)
        self.expands = _choices("expands", expands, 1)
        self.strides = _choices("strides", strides, 1)
        if set(self.strides) - {1, 2}:
            raise ConfigError("strides", "a subset of 1, 2", strides)
        self.stem_kernels = _choices("stem_kernels", stem_kernels, 1, odd=True)
        self.stem_channels = _choices("stem_channels", stem_channels, 1)
        self.head_channels = _choices("head_channels", head_channels, 0)
        self.fc_hidden = _choices("fc_hidden", fc_hidden, 0)

    # -- helpers -----------------------------------------------------------------------
    def stage_depths(self, index: int) -> tuple[int, ...]:
        """The depths stage ``index`` may have (the first stage is never absent)."""
        return tuple(d for d in self.depths if d > 0) if index == 0 else self.depths

    @property
    def max_depth(self) -> int:
        """The largest number of blocks in a stage."""
        return max(self.depths)

    def baselines(self) -> dict[str, str]:
        """The hand-designed networks that are architectures of this space:
        ``{name: architecture string}`` (all three with the default configuration)."""
        out = {}
        for name, (stem, stages, head) in BASELINES.items():
            if len(stages) > self.num_stages:
                continue
            text = "|".join([stem, *stages, *["-"] * (self.num_stages - len(stages)), head])
            try:
                self.parse(text)
            except ArchError:
                continue
            out[name] = text
        return out

    # -- the encoding -------------------------------------------------------------------
    @property
    def n_choices(self) -> tuple[int, ...]:
        genes = [len(self.stem_kernels), len(self.stem_channels)]
        for s in range(self.num_stages):
            genes += [len(self.stage_depths(s)), len(self.blocks), len(self.widths)]
            genes += [len(self.kernels), len(self.expands), len(self.strides)]
        return (*genes, len(self.head_channels), len(self.fc_hidden))

    def encode(self, arch: Arch) -> tuple[int, ...]:
        arch = self._check(arch)
        stem, head = arch.stem, arch.head
        genes = [
            _index("stem kernel", stem.kernel, self.stem_kernels),
            _index("stem channels", stem.channels, self.stem_channels),
        ]
        for s, stage in enumerate(arch.stages):
            if stage is None:
                # The first absent stage says so with its depth gene (0 need not be listed
                # first in ``depths``); the genes of the stages after it have no effect.
                first = s == 0 or arch.stages[s - 1] is not None
                depth = _index(f"stage {s} depth", 0, self.stage_depths(s)) if first else 0
                genes += [depth] + [0] * (_STAGE_GENES - 1)
                continue
            where = f"stage {s}"
            mbconv = stage.block == "mbconv"
            genes += [
                _index(f"{where} depth", stage.depth, self.stage_depths(s)),
                _index(f"{where} block", stage.block, self.blocks),
                _index(f"{where} channels", stage.channels, self.widths),
                _index(f"{where} kernel", stage.kernel, self.kernels),
                _index(f"{where} expand", stage.expand, self.expands) if mbconv else 0,
                _index(f"{where} stride", stage.stride, self.strides),
            ]
            if not mbconv and stage.expand != 0:
                raise ArchError(f"convnet {where}: an expand ratio is for mbconv blocks only")
        genes += [
            _index("head conv", head.conv, self.head_channels),
            _index("head fc", head.fc, self.fc_hidden),
        ]
        return tuple(genes)

    def decode(self, encoding: Sequence[int]) -> ConvNetArch:
        genes = self.validate_encoding(encoding)
        stages: list[Stage | None] = []
        for s in range(self.num_stages):
            g = genes[2 + s * _STAGE_GENES : 2 + (s + 1) * _STAGE_GENES]
            depth = self.stage_depths(s)[g[0]]
            if depth == 0 or (stages and stages[-1] is None):
                stages.append(None)
                continue
            block = self.blocks[g[1]]
            expand = self.expands[g[4]] if block == "mbconv" else 0
            stages.append(
                Stage(
                    block, self.widths[g[2]], self.kernels[g[3]], depth, self.strides[g[5]], expand
                )
            )
        return ConvNetArch(
            Stem(self.stem_kernels[genes[0]], self.stem_channels[genes[1]]),
            tuple(stages),
            Head(self.head_channels[genes[-2]], self.fc_hidden[genes[-1]]),
        )

    def parse(self, text: str) -> ConvNetArch:
        parts = text.strip().split("|")
        if len(parts) != self.num_stages + 2:
            raise ArchError(
                f"convnet architecture {text!r}: expected a stem, {self.num_stages} stages "
                "('-' when absent) and a head separated by '|', like "
                "s16k3|plain-c16-k5-d1-s2|basic-c32-k3-d1-s2|-|-|h0-f128"
            )
        m = _STEM_RE.match(parts[0])
        if m is None:
            raise ArchError(f"convnet stem {parts[0]!r}: expected s<channels>k<kernel>, e.g. s16k3")
        stem = Stem(int(m["kernel"]), int(m["channels"]))
        stages = [self._parse_stage(s, part) for s, part in enumerate(parts[1:-1])]
        m = _HEAD_RE.match(parts[-1])
        if m is None:
            raise ArchError(
                f"convnet head {parts[-1]!r}: expected h<conv channels>-f<hidden units>, "
                "0 for none, e.g. h0-f128"
            )
        arch = ConvNetArch(stem, tuple(stages), Head(int(m["conv"]), int(m["fc"])))
        self.encode(arch)  # every choice is in this space
        return arch

    def _parse_stage(self, s: int, text: str) -> Stage | None:
        if text == "-":
            if s == 0:
                raise ArchError("convnet stage 0: the first stage cannot be absent ('-')")
            return None
        m = _STAGE_RE.match(text)
        if m is None:
            raise ArchError(
                f"convnet stage {s} {text!r}: expected <block>-c<channels>-k<kernel>"
                "[-e<expand>]-d<depth>-s<stride> (e.g. mbconv-c32-k3-e6-d2-s2) or '-'"
            )
        block, expand = m["block"], m["expand"]
        if block not in self.blocks:
            raise ArchError(
                f"convnet stage {s} block: expected one of {self.blocks}, got {block!r}"
            )
        if (block == "mbconv") != (expand is not None):
            raise ArchError(
                f"convnet stage {s} {text!r}: an mbconv stage has an expand ratio (-e<n>), "
                "other blocks have none"
            )
        if int(m["depth"]) == 0:
            raise ArchError(f"convnet stage {s} {text!r}: write an absent stage as '-'")
        return Stage(
            block,
            int(m["channels"]),
            int(m["kernel"]),
            int(m["depth"]),
            int(m["stride"]),
            0 if expand is None else int(expand),
        )

    def active_genes(self, encodings: np.ndarray) -> np.ndarray:
        """Genes of absent stages (and of the stages after one) and the expand ratio of
        non-``mbconv`` stages have no effect."""
        encodings = np.atleast_2d(np.asarray(encodings))
        mask = np.ones(encodings.shape, dtype=bool)
        reached = np.ones(len(encodings), dtype=bool)  # every earlier stage is present
        mbconv = np.asarray([b == "mbconv" for b in self.blocks])
        for s in range(self.num_stages):
            start = 2 + s * _STAGE_GENES
            depths = np.asarray(self.stage_depths(s))
            present = reached & (depths[encodings[:, start]] > 0)
            mask[:, start] = reached
            mask[:, start + 1 : start + _STAGE_GENES] = present[:, None]
            mask[:, start + 4] &= mbconv[encodings[:, start + 1]]
            reached = present
        return mask

    def size(self) -> int:
        per_block = sum(len(self.expands) if b == "mbconv" else 1 for b in self.blocks)
        per_stage = per_block * len(self.widths) * len(self.kernels) * len(self.strides)
        positive = len(self.stage_depths(0)) * per_stage
        if 0 in self.depths:  # 1 to num_stages present stages
            stages = sum(positive**n for n in range(1, self.num_stages + 1))
        else:
            stages = positive**self.num_stages
        stem = len(self.stem_kernels) * len(self.stem_channels)
        return stem * stages * len(self.head_channels) * len(self.fc_hidden)

    def config(self) -> dict[str, Any]:
        return {
            "num_stages": self.num_stages,
            "depths": list(self.depths),
            "blocks": list(self.blocks),
            "widths": list(self.widths),
            "kernels": list(self.kernels),
            "expands": list(self.expands),
            "strides": list(self.strides),
            "stem_kernels": list(self.stem_kernels),
            "stem_channels": list(self.stem_channels),
            "head_channels": list(self.head_channels),
            "fc_hidden": list(self.fc_hidden),
        }

    # -- extremes, handy for budgets and supernets --------------------------------------
    def smallest(self) -> ConvNetArch:
        """One shallowest stage of the cheapest block type, narrowest and strided, the
        smallest stem and head (fewest MACs)."""
        stages = [self._stage(min(self.stage_depths(0)), max(self.strides), min)]
        if 0 not in self.depths:
            stages *= self.num_stages
        return self._extreme(min, stages)

    def largest(self) -> ConvNetArch:
        """Every stage at its deepest, widest, largest kernel and stride 1, of the most
        expensive block type, the largest stem and head (most MACs)."""
        return self._extreme(
            max, [self._stage(self.max_depth, min(self.strides), max)] * self.num_stages
        )

    def _stage(self, depth: int, stride: int, pick: Any) -> Stage:
        """The block type and expand ratio ``pick`` (min or max) chooses by MACs for a
        stage of ``depth``, ``stride``, the ``pick`` width and kernel."""
        from hwnas.spaces.convnet.layers import convnet_layers

        width, kernel = pick(self.widths), pick(self.kernels)
        candidates = [
            Stage(b, width, kernel, depth, stride, e if b == "mbconv" else 0)
            for b in self.blocks
            for e in (self.expands if b == "mbconv" else (0,))
        ]

        def macs(stage: Stage) -> int:
            arch = ConvNetArch(Stem(3, width), (stage,), Head(0, 0))
            return sum(x.macs for x in convnet_layers(arch, (3, 32, 32), 10, 1))

        return pick(candidates, key=macs)  # type: ignore[no-any-return]

    def _extreme(self, pick: Any, stages: list[Stage]) -> ConvNetArch:
        padded = (*stages, *[None] * (self.num_stages - len(stages)))
        return ConvNetArch(
            Stem(pick(self.stem_kernels), pick(self.stem_channels)),
            padded,
            Head(pick(self.head_channels), pick(self.fc_hidden)),
        )

    # -- the plugin bundle ------------------------------------------------------------------
    def build(self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int) -> HwnasNet:
        from hwnas.spaces.convnet.model import ConvNetNet

        return ConvNetNet(self._check(arch), input_shape, num_classes)

    def layers(
        self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int
    ) -> list[Layer]:
        from hwnas.spaces.convnet.layers import convnet_layers

        return convnet_layers(self._check(arch), input_shape, num_classes, self.num_stages)

    def build_supernet(self, input_shape: tuple[int, int, int], num_classes: int) -> Supernet:
        from hwnas.spaces.convnet.supernet import ConvNetSupernet

        return ConvNetSupernet(self, input_shape, num_classes)

    def describe(self, arch: Arch) -> dict[str, Any]:
        arch = self._check(arch)
        return {
            "stages": len(arch.present),
            "blocks": sum(s.depth for s in arch.present),
            "block_types": sorted({s.block for s in arch.present}),
        }

    def _check(self, arch: Arch) -> ConvNetArch:
        if not isinstance(arch, ConvNetArch):
            raise ArchError(f"expected a convnet architecture, got {type(arch).__name__}")
        if len(arch.stages) != self.num_stages:
            raise ArchError(
                f"convnet architecture has {len(arch.stages)} stage slots, the space "
                f"{self.num_stages}"
            )
        if arch.stages[0] is None:
            raise ArchError("convnet stage 0: the first stage cannot be absent")
        gaps = [
            s for s in range(1, self.num_stages) if arch.stages[s - 1] is None and arch.stages[s]
        ]
        if gaps:
            raise ArchError(
                f"convnet stage {gaps[0]}: follows an absent stage (absent ones come last)"
            )
        return arch


def _choices(field: str, values: Sequence[int], minimum: int, odd: bool = False) -> tuple[int, ...]:
    """``values`` as distinct integers >= ``minimum`` (odd ones when ``odd``)."""
    out = tuple(int(v) for v in values)
    if not out or min(out) < minimum or _repeats(out) or (odd and any(v % 2 == 0 for v in out)):
        kind = "odd " if odd else ""
        raise ConfigError(field, f"distinct {kind}integers >= {minimum}", values)
    return out


def _repeats(values: Sequence[Any]) -> bool:
    return len(set(values)) != len(values)


def _index(what: str, value: object, choices: Sequence[Any]) -> int:
    try:
        return list(choices).index(value)
    except ValueError:
        raise ArchError(
            f"convnet {what}: expected one of {tuple(choices)}, got {value!r}"
        ) from None
