"""Architectures of the NAS-Bench-201 cell space: the operation on each of the 6 edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwnas.errors import ArchError
from hwnas.spaces.base import Arch

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
