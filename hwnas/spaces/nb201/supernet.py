"""The ``nb201`` supernet: a one-shot model with all five operations on every edge.

Each edge of each cell holds one module per NAS-Bench-201 operation; a subnet (single
path) runs the one its architecture names. Stem, residual reduction blocks, the final
BN-ReLU and the classifier are shared by every subnet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from hwnas.nn.supernet.base import Supernet
from hwnas.spaces.base import Arch
from hwnas.spaces.nb201.arch import EDGES, OPS, NB201Arch
from hwnas.spaces.nb201.model import Cell, NB201Net, ResidualReduction, make_op, nb201_skeleton

if TYPE_CHECKING:
    from hwnas.spaces.nb201.space import NB201Space


class OneShotCell(nn.Module):
    """A cell with every operation on each of its 6 edges."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: make_op(op, channels) for op in OPS}) for _ in EDGES
        )

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        ops: tuple[str, ...],
        gate: Callable[[torch.Tensor, Sequence[int]], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The cell's output; ``gate(out, (k,))`` scales the output of edge ``k`` (gene
        ``k`` of the encoding) when given."""
        nodes = [x]
        k = 0
        for target in range(1, 4):
            total: torch.Tensor | None = None
            for source in range(target):
                edge = self.edges[k]
                assert isinstance(edge, nn.ModuleDict)
                out = edge[ops[k]](nodes[source])
                if gate is not None:
                    out = gate(out, (k,))
                total = out if total is None else total + out
                k += 1
            assert total is not None
            nodes.append(total)
        return nodes[-1]

    def copy_to(self, cell: Cell, ops: tuple[str, ...]) -> None:
        """Copy the weights of the operations ``ops`` into the standalone ``cell``."""
        for k, op in enumerate(ops):
            edge = self.edges[k]
            assert isinstance(edge, nn.ModuleDict)
            cell.edges[k].load_state_dict(edge[op].state_dict())


class NB201Supernet(Supernet):
    """The one-shot supernet of an :class:`~hwnas.spaces.NB201Space`.

    Args:
        space: The ``nb201`` space.
        input_shape: ``(C, H, W)`` of one input.
        num_classes: Number of output logits.
    """

    space: NB201Space
    gated = True

    def __init__(
        self, space: NB201Space, input_shape: tuple[int, int, int], num_classes: int
    ) -> None:
        super().__init__(space, input_shape, num_classes)
        parts = nb201_skeleton(space, input_shape, num_classes, OneShotCell)
        stem, layers, lastact, pool, classifier = parts
        self.stem, self.cells = stem, nn.ModuleList(layers)  # registered in the original order
        self.lastact, self.pool, self.classifier = lastact, pool, classifier

    def forward_arch(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        assert isinstance(arch, NB201Arch)
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, arch.ops, self.gate) if isinstance(layer, OneShotCell) else layer(x)
        x = self.lastact(x)
        return self.classifier(torch.flatten(self.pool(x), 1))

    def extract(self, arch: Arch) -> NB201Net:
        arch = self.check_arch(arch)
        assert isinstance(arch, NB201Arch)
        model = self._standalone(arch)
        assert isinstance(model, NB201Net)
        model.stem.load_state_dict(self.stem.state_dict())
        for mine, theirs in zip(self.cells, model.cells, strict=True):
            if isinstance(mine, OneShotCell):
                assert isinstance(theirs, Cell)
                mine.copy_to(theirs, arch.ops)
            else:
                assert isinstance(mine, ResidualReduction)
                theirs.load_state_dict(mine.state_dict())
        model.lastact.load_state_dict(self.lastact.state_dict())
        model.classifier.load_state_dict(self.classifier.state_dict())
        return model
