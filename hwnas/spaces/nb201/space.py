"""The NAS-Bench-201 cell search space, exactly as published.

A cell is a DAG on 4 nodes; each of its 6 edges carries one of 5 operations. The string
form is the official one, e.g.
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``,
whose edges are, in order, (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2). The encoding
is the 6 operation indices in the order :data:`OPS`. The official benchmark index of an
architecture comes from the NAS-Bench-201 table shipped with hwnas
(``hwnas/resources/nb201.csv.gz``, see its README for attribution).
"""

from __future__ import annotations

import csv
import functools
import gzip
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from hwnas.errors import ArchError
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.spaces.nb201.arch import EDGES, OPS, NB201Arch
from hwnas.spaces.registry import register_space

if TYPE_CHECKING:
    from hwnas.costs import Layer
    from hwnas.nn.build import HwnasNet
    from hwnas.nn.supernet.base import Supernet


@functools.lru_cache(maxsize=1)
def _official_index() -> dict[str, int]:
    table = resources.files("hwnas.resources").joinpath("nb201.csv.gz")
    with table.open("rb") as raw, gzip.open(raw, "rt", newline="") as text:
        return {row["arch_str"]: int(row["arch_index"]) for row in csv.DictReader(text)}


@register_space("nb201")
class NB201Space(SearchSpace):
    """The NAS-Bench-201 topology space: 5 operations on 6 edges, 15,625 architectures.

    Args:
        channels: Channels of the three stages (the benchmark uses 16, 32, 64).
        cells_per_stage: Cells in each stage (the benchmark uses 5).
    """

    name = "nb201"
    version = "1"

    def __init__(self, channels: Sequence[int] = (16, 32, 64), cells_per_stage: int = 5) -> None:
        self.channels = tuple(int(c) for c in channels)
        self.cells_per_stage = int(cells_per_stage)
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise ArchError(f"channels: expected 3 positive integers, got {channels!r}")
        if self.cells_per_stage < 1:
            raise ArchError(f"cells_per_stage: expected >= 1, got {cells_per_stage!r}")

    @property
    def n_choices(self) -> tuple[int, ...]:
        return (len(OPS),) * len(EDGES)

    def surrogate_encode(self, arch: Arch) -> tuple[int, ...]:
        """The encoding with every operation that cannot affect the output set to ``none``.

        An edge matters only when its operation is not ``none``, its source node is
        reachable from the input and its target node reaches the output through such
        edges; the others compute nothing that reaches the output (their accuracy is that
        of the pruned cell).
        """
        code = self.encode(arch)
        live = [c != 0 for c in code]  # operation 0 is ``none``
        forward = {0}
        for target in (1, 2, 3):
            if any(live[k] and s in forward for k, (t, s) in enumerate(EDGES) if t == target):
                forward.add(target)
        backward = {3}
        for source in (2, 1, 0):
            if any(live[k] and t in backward for k, (t, s) in enumerate(EDGES) if s == source):
                backward.add(source)
        return tuple(
            c if live[k] and EDGES[k][1] in forward and EDGES[k][0] in backward else 0
            for k, c in enumerate(code)
        )

    def encode(self, arch: Arch) -> tuple[int, ...]:
        arch = self._check(arch)
        return tuple(OPS.index(op) for op in arch.ops)

    def decode(self, encoding: Sequence[int]) -> NB201Arch:
        return NB201Arch(tuple(OPS[i] for i in self.validate_encoding(encoding)))

    def parse(self, text: str) -> NB201Arch:
        text = text.strip()
        nodes = text.split("+")
        if len(nodes) != 3:
            raise ArchError(
                f"nb201 architecture {text!r}: expected 3 nodes separated by '+', "
                "like |nor_conv_3x3~0|+|skip_connect~0|none~1|+|...~0|...~1|...~2|"
            )
        ops: list[str] = []
        for target, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|")):
                raise ArchError(f"nb201 node {node!r}: expected |op~source|...|")
            edges = node[1:-1].split("|")
            if len(edges) != target:
                raise ArchError(f"nb201 node {node!r}: expected {target} edge(s)")
            for source, edge in enumerate(edges):
                op, sep, src = edge.partition("~")
                if not sep or src != str(source) or op not in OPS:
                    raise ArchError(
                        f"nb201 edge {edge!r}: expected 'op~{source}' with op one of {OPS}"
                    )
                ops.append(op)
        return NB201Arch(tuple(ops))

    def size(self) -> int:
        return len(OPS) ** len(EDGES)

    def config(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "cells_per_stage": self.cells_per_stage}

    def smallest(self) -> NB201Arch:
        """The cheapest cell (no convolution on any edge)."""
        return NB201Arch(("none",) * len(EDGES))

    def largest(self) -> NB201Arch:
        """The most expensive cell (3x3 convolutions on every edge)."""
        return NB201Arch(("nor_conv_3x3",) * len(EDGES))

    # -- the plugin bundle ------------------------------------------------------------------
    def build(self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int) -> HwnasNet:
        from hwnas.spaces.nb201.model import NB201Net

        return NB201Net(self, self._check(arch), input_shape, num_classes)

    def layers(
        self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int
    ) -> list[Layer]:
        from hwnas.spaces.nb201.layers import nb201_layers

        return nb201_layers(self, self._check(arch), input_shape, num_classes)

    def build_supernet(self, input_shape: tuple[int, int, int], num_classes: int) -> Supernet:
        from hwnas.spaces.nb201.supernet import NB201Supernet

        return NB201Supernet(self, input_shape, num_classes)

    def describe(self, arch: Arch) -> dict[str, Any]:
        """The official benchmark index (``nb201_index``)."""
        return {"nb201_index": self.index(arch)}

    # -- the official benchmark index ----------------------------------------------------
    def index(self, arch: Arch) -> int:
        """The official NAS-Bench-201 index of ``arch`` (0..15624)."""
        return _official_index()[str(self._check(arch))]

    def from_index(self, index: int) -> NB201Arch:
        """The architecture with the official NAS-Bench-201 ``index``."""
        strings = _index_to_string()
        if not 0 <= index < len(strings):
            raise ArchError(f"nb201 index: expected 0..{len(strings) - 1}, got {index}")
        return self.parse(strings[index])

    def _check(self, arch: Arch) -> NB201Arch:
        if not isinstance(arch, NB201Arch):
            raise ArchError(f"expected an nb201 architecture, got {type(arch).__name__}")
        return arch


@functools.lru_cache(maxsize=1)
def _index_to_string() -> list[str]:
    by_index = {i: s for s, i in _official_index().items()}
    return [by_index[i] for i in range(len(by_index))]
