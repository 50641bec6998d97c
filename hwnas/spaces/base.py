"""The search-space interface: architectures as data, encodings for optimizers.

An architecture is a frozen, hashable value with a canonical string form (``str(arch)``);
the space it belongs to maps it to and from a fixed-length integer encoding, JSON, and
random samples. Building a ``torch.nn.Module`` from it is a separate step
(:func:`hwnas.nn.build_model`).
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from hwnas.errors import ArchError, ConfigError

if TYPE_CHECKING:
    from torch import nn

    from hwnas.costs import Layer
    from hwnas.nn.build import HwnasNet
    from hwnas.nn.supernet.base import Supernet


class Arch(abc.ABC):
    """An architecture of one search space: immutable, hashable, printable.

    Subclasses are frozen dataclasses. ``str(arch)`` is the canonical string form, and
    ``space.parse(str(arch)) == arch`` always holds.
    """

    space_name: ClassVar[str]

    @abc.abstractmethod
    def __str__(self) -> str:
        """The canonical string form."""


class TableBlock(Protocol):
    """One separately measured part of a network in a per-block latency table."""

    @property
    def key(self) -> str:
        """A canonical string naming the block and its input (the table's key)."""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the block's input."""

    def module(self, num_classes: int) -> nn.Module:
        """The block as a stand-alone module, as the network builder makes it."""


class SearchSpace(abc.ABC):
    """A set of architectures with a fixed-length integer encoding, and everything the
    rest of hwnas needs to know about them: the space's plugin bundle.

    A space is one module (or package) under :mod:`hwnas.spaces` that registers its
    subclass with ``@register_space``. The subclass answers, besides the encoding, how to
    build a model (:meth:`build`), its closed-form operator list (:meth:`layers`: costs and
    predictor features), and optionally its supernet (:meth:`build_supernet`), the
    encoding surrogates learn from (:meth:`surrogate_encode`), which genes have an effect
    (:meth:`active_genes`), when two architectures are the same network
    (:meth:`network_key`) and a per-block latency table (:meth:`table_blocks`). Nothing
    outside the space's own module asks which space it is.

    Subclasses set :attr:`name` and :attr:`version` (bump the version whenever the meaning
    of an architecture string or the models built from it changes, so that cached results
    keyed on it are never reused by mistake).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    #: The feature blocks a latency predictor of this space uses unless told otherwise
    #: (:mod:`hwnas.predictors.features`); a space overrides them when measurement says.
    predictor_features: ClassVar[tuple[str, ...]] = ("ops", "costs")
    #: Token ids the space's input embedding holds (ids ``0 .. vocab_size - 1``); ``None``
    #: for a space that reads images only. Text data needs a space with one.
    vocab_size: int | None = None

    # -- the encoding -------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def n_choices(self) -> tuple[int, ...]:
        """The number of choices of each encoding dimension (values are ``0..n-1``)."""

    @abc.abstractmethod
    def encode(self, arch: Arch) -> tuple[int, ...]:
        """The integer encoding of ``arch`` (canonical: equal archs, equal encodings)."""

    @abc.abstractmethod
    def decode(self, encoding: Sequence[int]) -> Arch:
        """The architecture of an integer encoding; genes that have no effect are ignored."""

    @abc.abstractmethod
    def parse(self, text: str) -> Arch:
        """The architecture of a canonical (or equivalent) string; raises :class:`ArchError`."""

    @abc.abstractmethod
    def size(self) -> int:
        """The number of distinct architectures in the space."""

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable (``type(self)(**config())``)."""

    @abc.abstractmethod
    def smallest(self) -> Arch:
        """The cheapest architecture (fewest MACs), for budgets and sandwich training."""

    @abc.abstractmethod
    def largest(self) -> Arch:
        """The most expensive architecture (most MACs)."""

    # -- the models -----------------------------------------------------------------------
    @abc.abstractmethod
    def build(self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int) -> HwnasNet:
        """A freshly initialised model of ``arch`` (called by :func:`hwnas.nn.build_model`,
        which validates the arguments first)."""

    @abc.abstractmethod
    def layers(
        self, arch: Arch, input_shape: tuple[int, int, int], num_classes: int
    ) -> list[Layer]:
        """The operators of the model of ``arch``, in order, with their closed-form costs
        (batch 1); their MACs and parameters sum to what fvcore counts on :meth:`build`'s
        model (tested for every registered space)."""

    def build_supernet(self, input_shape: tuple[int, int, int], num_classes: int) -> Supernet:
        """The weight-sharing supernet of the space (called by
        :func:`hwnas.nn.supernet.build_supernet`); spaces without one keep this default."""
        raise ConfigError("space", "a space with a supernet", self.name)

    def table_blocks(self, input_shape: tuple[int, int, int]) -> Sequence[TableBlock] | None:
        """Every block of a per-block latency table at ``input_shape`` (``hwnas profile
        --lut``), or ``None`` for spaces without one (the default)."""
        return None

    def arch_table_blocks(
        self, arch: Arch, input_shape: tuple[int, int, int]
    ) -> Sequence[TableBlock]:
        """The table blocks whose latencies sum to ``arch``'s table latency."""
        raise ConfigError("space", "a space with a block lookup table", self.name)

    def baselines(self) -> dict[str, str]:
        """Hand-designed networks that are architectures of this space, ``{name: arch
        string}``, for the report's comparison (none by default)."""
        return {}

    def describe(self, arch: Arch) -> dict[str, Any]:
        """Extra facts about ``arch`` for ``hwnas space describe`` (none by default)."""
        return {}

    def active_genes(self, encodings: np.ndarray) -> np.ndarray:
        """A boolean mask of the genes of ``encodings`` (n x n_dims) that affect the
        architecture (all of them, unless a space has genes that can be switched off)."""
        return np.ones(np.shape(encodings), dtype=bool)

    # -- derived behaviour --------------------------------------------------------------
    @property
    def n_dims(self) -> int:
        """The length of the encoding."""
        return len(self.n_choices)

    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random encoding, decoded."""
        return self.decode([int(rng.integers(n)) for n in self.n_choices])

    def mutate(self, arch: Arch, rng: np.random.Generator, rate: float | None = None) -> Arch:
        """A copy of ``arch`` with each gene resampled with probability ``rate``.

        The default rate is ``1 / n_dims``. The result always differs from ``arch`` (when
        the space has more than one architecture): genes are resampled until it does.
        """
        rate = 1.0 / self.n_dims if rate is None else rate
        if not 0.0 < rate <= 1.0:
            raise ArchError(f"rate: expected a probability in (0, 1], got {rate!r}")
        genes = list(self.encode(arch))
        for _ in range(1000):
            new = list(genes)
            for i, n in enumerate(self.n_choices):
                if n > 1 and rng.random() < rate:
                    new[i] = int((genes[i] + rng.integers(1, n)) % n)
            child = self.decode(new)
            if child != arch:
                return child
        return arch

    def validate_encoding(self, encoding: Sequence[int]) -> tuple[int, ...]:
        """``encoding`` as a tuple of ints, checked against :attr:`n_choices`."""
        values = tuple(int(v) for v in encoding)
        if len(values) != self.n_dims:
            raise ArchError(
                f"{self.name} encoding: expected {self.n_dims} integers, got {len(values)}"
            )
        for i, (value, n) in enumerate(zip(values, self.n_choices, strict=True)):
            if not 0 <= value < n:
                raise ArchError(
                    f"{self.name} encoding[{i}]: expected an integer in [0, {n - 1}], got {value}"
                )
        return values

    def to_json(self, arch: Arch) -> dict[str, str]:
        """``{"space": name, "arch": canonical string}``."""
        return {"space": self.name, "arch": str(arch)}

    def from_json(self, data: object) -> Arch:
        """The inverse of :meth:`to_json`; checks that the space matches."""
        if not isinstance(data, dict) or "arch" not in data:
            raise ArchError(f'expected a JSON object {{"space": ..., "arch": ...}}, got {data!r}')
        if data.get("space", self.name) != self.name:
            raise ArchError(
                f"architecture of space {data.get('space')!r} given to space {self.name!r}"
            )
        return self.parse(str(data["arch"]))

    def fingerprint(self) -> str:
        """A short hash of the space's name, version and configuration."""
        payload = json.dumps(
            {"name": self.name, "version": self.version, "config": self.config()}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def check_arch(self, arch: object) -> Arch:
        """``arch`` itself, after checking that it is an architecture of this space.

        Raises:
            ArchError: ``arch`` is of another space (or no architecture at all).
        """
        other = getattr(arch, "space_name", type(arch).__name__)
        if not isinstance(arch, Arch) or other != self.name:
            raise ArchError(
                f"expected an architecture of space {self.name!r}, got one of space {other!r}"
            )
        return arch

    def check_recorded(self, recorded: str, what: str) -> None:
        """Raise :class:`ArchError` unless ``what`` (a profile, a predictor...) was recorded
        for a space of this name (``recorded``)."""
        if recorded != self.name:
            raise ArchError(f"space: {what} is for space {recorded!r}, got space {self.name!r}")

    def surrogate_encode(self, arch: Arch) -> tuple[int, ...]:
        """The encoding a surrogate model learns from: same genes and choices as
        :meth:`encode`, with genes that cannot affect the network set to a canonical value.

        ``encode(arch)`` here; spaces where some choices have no effect on the output
        (operations on edges that cannot reach it) override it, so that a surrogate sees
        equal inputs for architectures that compute the same function.
        """
        return self.encode(arch)

    def network_key(self, arch: Arch) -> str:
        """A string equal for two architectures exactly when they build the same network
        (``str(arch)`` here; spaces where distinct choices can build the same network,
        such as rounded channel counts, override it)."""
        return str(arch)

    @property
    def file_stem(self) -> str:
        """The name of this space's profile and predictor files: ``name`` for the default
        configuration, ``name-<fingerprint>`` for any other, so that profiles of differently
        configured spaces never share (or overwrite) a file."""
        try:
            default = type(self)().config()  # type: ignore[call-arg]
        except TypeError:
            default = None
        return self.name if default == self.config() else f"{self.name}-{self.fingerprint()}"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (never below 90 % of it)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


#: The shape of one model input: ``(C, H, W)`` for an image, ``(L,)`` for a sequence of
#: token ids (:mod:`hwnas.data.inputs`).
InputShape = tuple[int, ...]


def check_input_shape(
    input_shape: Sequence[int], num_classes: int, space: SearchSpace | None = None
) -> InputShape:
    """``input_shape`` as a tuple, with both arguments validated: three positive integers
    ``(C, H, W)`` for an image, or one, ``(L,)``, for a sequence of token ids (refused for
    ``space`` when it reads images only: it has no ``vocab_size``)."""
    expected = "three positive integers C,H,W (or one, L, for token sequences)"
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise ConfigError("input_shape", expected, input_shape) from None
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ConfigError("input_shape", expected, shape)
    if int(num_classes) < 2:
        raise ConfigError("num_classes", "an integer >= 2", num_classes)
    if space is not None and len(shape) == 1 and space.vocab_size is None:
        raise ConfigError(
            "input_shape",
            f"images (C,H,W) for the {space.name} space, which reads images (token "
            "sequences need a space that reads token ids, such as transformer)",
            shape,
        )
    return shape
