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
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

from hwnas.errors import ArchError
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.spaces.registry import register_space

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (target node, source node) of each edge, in the order of the official string.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


@dataclass(frozen=True)
class NB201Arch(Arch):
    """A NAS-Bench-201 cell: the operation on each of the 6 edges, in :data:`EDGES` order."""

    space_name: ClassVar[str] = "nb201"
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES) or any(op not in OPS for op in self.ops):
            raise ArchError(
                f"nb201 ops: expected {len(EDGES)} operations from {OPS}, got {self.ops!r}"
            )

    def __str__(self) -> str:
        nodes = []
        k = 0
        for target in range(1, 4):
            edges = []
            for source in range(target):
                edges.append(f"{self.ops[k]}~{source}")
                k += 1
            nodes.append("|" + "|".join(edges) + "|")
        return "+".join(nodes)

    def edge(self, target: int, source: int) -> str:
        """The operation on the edge from node ``source`` to node ``target``."""
        return self.ops[EDGES.index((target, source))]


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
