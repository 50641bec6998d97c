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
from typing import Any, ClassVar

import numpy as np

from hwnas.errors import ArchError


class Arch(abc.ABC):
    """An architecture of one search space: immutable, hashable, printable.

    Subclasses are frozen dataclasses. ``str(arch)`` is the canonical string form, and
    ``space.parse(str(arch)) == arch`` always holds.
    """

    space_name: ClassVar[str]

    @abc.abstractmethod
    def __str__(self) -> str:
        """The canonical string form."""


class SearchSpace(abc.ABC):
    """A set of architectures with a fixed-length integer encoding.

    Subclasses set :attr:`name` and :attr:`version` (bump the version whenever the meaning
    of an architecture string or the models built from it changes, so that cached results
    keyed on it are never reused by mistake).
    """

    name: ClassVar[str]
    version: ClassVar[str]

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
