"""The supernet interface and ``build_supernet``, its one entry point.

A supernet holds the weights of every architecture of a search space at once. Any
architecture runs as a subnet with the weights it inherits (``supernet(x, arch)``, or
``supernet.set_active(arch)`` then ``supernet(x)``), and :meth:`Supernet.extract` copies
them into the standalone model :func:`hwnas.nn.build_model` builds for that architecture.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar, cast

import torch
from torch import nn

from hwnas.errors import ArchError
from hwnas.nn.build import HwnasNet, check_input_shape
from hwnas.spaces.base import Arch, SearchSpace


class Supernet(nn.Module, abc.ABC):
    """Weight-sharing network of a whole search space.

    Args:
        space: The search space.
        input_shape: ``(C, H, W)`` of one input (fixes the stride plan, as for
            :func:`hwnas.nn.build_model`).
        num_classes: Number of output logits.

    Attributes:
        space: The search space.
        input_shape: ``(C, H, W)`` of one input.
        num_classes: Number of output logits.
    """

    def __init__(
        self, space: SearchSpace, input_shape: tuple[int, int, int], num_classes: int
    ) -> None:
        super().__init__()
        self.space = space
        self.input_shape = input_shape
        self.num_classes = num_classes
        self._active: Arch = space.largest()
        self._gates: torch.Tensor | None = None

    #: Whether :meth:`forward_arch` multiplies each decision's output by its gate
    #: (:meth:`gate`), so that a differentiable search can pass gradients to the
    #: architecture parameters through a single sampled path.
    gated: ClassVar[bool] = False

    @contextmanager
    def gates(self, values: torch.Tensor) -> Iterator[None]:
        """Run the block with one gate per encoding dimension (``values``, of length
        ``space.n_dims``): each decision's output is multiplied by its gate (GDAS). Gates
        of value 1 leave every output as it is and carry the gradient (straight-through
        Gumbel-softmax); outside the block nothing is multiplied.
        """
        if values.shape != (self.space.n_dims,):
            raise ValueError(f"gates: expected shape ({self.space.n_dims},), got {values.shape}")
        self._gates = values
        try:
            yield
        finally:
            self._gates = None

    def gate_value(self, genes: Sequence[int]) -> torch.Tensor | None:
        """The product of the gates of the encoding dimensions ``genes`` (the decisions
        that chose an operation), or ``None`` when no gates are set."""
        if self._gates is None or not genes:
            return None
        return torch.prod(self._gates[list(genes)])

    def gate(self, x: torch.Tensor, genes: Sequence[int]) -> torch.Tensor:
        """``x`` times :meth:`gate_value` of ``genes``; ``x`` itself when no gates are set."""
        value = self.gate_value(genes)
        return x if value is None else x * value

    @property
    def active(self) -> Arch:
        """The architecture ``forward`` runs when it is given none (initially the largest)."""
        return self._active

    def set_active(self, arch: Arch) -> None:
        """Make ``arch`` the subnet that ``forward(x)`` runs."""
        self._active = self.check_arch(arch)

    def check_arch(self, arch: Arch) -> Arch:
        """``arch`` itself, after checking that it belongs to the supernet's space.

        Raises:
            ArchError: ``arch`` is of another space or has a choice outside this space.
        """
        if getattr(arch, "space_name", None) != self.space.name:
            raise ArchError(
                f"architecture of space {getattr(arch, 'space_name', type(arch).__name__)!r} "
                f"given to a supernet of space {self.space.name!r}"
            )
        self.space.encode(arch)
        return arch

    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        """Logits of the subnet ``arch`` (default: the active one) on ``x``."""
        return self.forward_arch(x, self._active if arch is None else self.check_arch(arch))

    @abc.abstractmethod
    def forward_arch(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        """Logits of the subnet ``arch`` (already checked) on ``x``."""

    @abc.abstractmethod
    def extract(self, arch: Arch) -> HwnasNet:
        """A standalone model of ``arch`` (as ``build_model`` builds it) with its weights.

        The result holds copies (parameters and batch-norm statistics): training it leaves
        the supernet unchanged. The caller's global random state is left unchanged.
        """

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """Zeros of the supernet's input shape: a float32 image or int64 token ids."""
        from hwnas.data.inputs import example_input

        return example_input(self.input_shape, batch_size)

    def _standalone(self, arch: Arch) -> HwnasNet:
        from hwnas.nn.build import build_model

        with torch.random.fork_rng(devices=[]):
            model = build_model(self.space, arch, self.input_shape, self.num_classes)
        model.train(self.training)
        return model


def build_supernet(
    space: SearchSpace,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    seed: int | None = None,
) -> Supernet:
    """Build the supernet of ``space`` for ``input_shape`` and ``num_classes``.

    Args:
        space: The search space (one that has a supernet: :meth:`SearchSpace.build_supernet`).
        input_shape: ``(C, H, W)`` of one input sample.
        num_classes: Number of classes (output logits).
        seed: Seeds weight initialisation (the global random state is then left
            unchanged); ``None`` draws from the global random state like ``build_model``.

    Returns:
        A freshly initialised :class:`Supernet`.

    Raises:
        ConfigError: ``input_shape`` or ``num_classes`` is invalid.
        ConfigError: The space has no supernet.
    """
    shape = check_input_shape(input_shape, num_classes, space)
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        # SearchSpace declares the image shape; token spaces also take (L,).
        return space.build_supernet(cast(tuple[int, int, int], shape), int(num_classes))
