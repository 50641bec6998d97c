"""The candidates of ``surrogate-ehvi``'s asks: the whole space when it is small enough, else
random architectures plus neighbours and crossovers of the current front; either way only
unasked ones that meet their cheap budgets (the least violating when none does).

:class:`Candidates` also caches what the strategy knows of any architecture without an
evaluation: its encodings (the space's, and the one the surrogate model reads) and its cheap
objective and constraint values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hwnas.pareto import violation
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.strategies.base import Problem

#: Crossovers of front members added to a sampled pool per ask.
_CROSSOVERS = 200


@dataclass
class Pool:
    """Candidates of one ask: architectures, encodings, cheap objectives and constraints."""

    archs: list[Arch]
    codes: np.ndarray
    model_codes: np.ndarray
    F: np.ndarray
    G: np.ndarray

    def take(self, keep: np.ndarray) -> Pool:
        """The candidates where ``keep`` (a boolean mask) is true."""
        index = np.flatnonzero(keep)
        return Pool(
            [self.archs[i] for i in index],
            self.codes[index],
            self.model_codes[index],
            self.F[index],
            self.G[index],
        )


@dataclass(eq=False)
class Candidates:
    """Builds the candidate pools of a search and remembers what was asked.

    Args:
        problem: The problem searched.
        rng: The strategy's random generator (shared: the order of draws is the seed's).
        model_encode: The encoding the surrogate reads (``space.surrogate_encode`` or
            ``space.encode``).
        pool_size: Spaces of at most this many architectures are enumerated; larger ones
            draw this many random candidates per pool.
        local: Trust region: gene changes from the front (0: no trust region).
        local_random: Random candidates added to the trust region.
    """

    problem: Problem
    rng: np.random.Generator
    model_encode: Callable[[Arch], tuple[int, ...]]
    pool_size: int
    local: int
    local_random: int
    asked: set[Arch] = field(default_factory=set, init=False)
    _cheap: dict[Arch, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, init=False)
    _codes: dict[Arch, tuple[int, ...]] = field(default_factory=dict, init=False)
    _model_codes: dict[Arch, tuple[int, ...]] = field(default_factory=dict, init=False)
    _space_pool: Pool | None = field(default=None, init=False)
    _space_index: dict[Arch, int] = field(default_factory=dict, init=False)
    _space_asked: np.ndarray | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.enumerable = self.problem.space.size() <= self.pool_size

    # -- encodings and cheap values ------------------------------------------------------
    def code(self, arch: Arch) -> tuple[int, ...]:
        """``space.encode(arch)``, cached."""
        code = self._codes.get(arch)
        if code is None:
            code = self._codes[arch] = tuple(self.problem.space.encode(arch))
        return code

    def model_codes(self, archs: Sequence[Arch]) -> np.ndarray:
        """The surrogate's encodings of ``archs`` (n x genes), cached."""
        rows = []
        for arch in archs:
            code = self._model_codes.get(arch)
            if code is None:
                code = self._model_codes[arch] = tuple(self.model_encode(arch))
            rows.append(code)
        return np.array(rows, dtype=np.int64).reshape(len(archs), self.problem.space.n_dims)

    def cheap_values(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Cheap objective and constraint values of ``archs`` (``nan`` where unknown)."""
        problem = self.problem
        new = [a for a in dict.fromkeys(archs) if a not in self._cheap]
        if new:
            if problem.cheap is None:
                F = np.full((len(new), problem.n_objectives), np.nan)
                G = np.full((len(new), problem.n_constraints), np.nan)
            else:
                F, G = problem.cheap(new)
                F = np.asarray(F, dtype=float).reshape(len(new), problem.n_objectives)
                G = np.asarray(G, dtype=float).reshape(len(new), problem.n_constraints)
            for arch, f, g in zip(new, F, G, strict=True):
                self._cheap[arch] = (f, g)
        F = np.array([self._cheap[a][0] for a in archs]).reshape(len(archs), -1)
        G = np.array([self._cheap[a][1] for a in archs]).reshape(len(archs), -1)
        return F, G

    # -- pools ---------------------------------------------------------------------------
    def make_pool(self, archs: Sequence[Arch]) -> Pool:
        """A pool of the distinct ``archs`` (in order), asked or not."""
        archs = list(dict.fromkeys(archs))
        F, G = self.cheap_values(archs)
        codes = np.array([self.code(a) for a in archs], dtype=np.int64)
        codes = codes.reshape(len(archs), self.problem.space.n_dims)
        return Pool(archs, codes, self.model_codes(archs), F, G)

    def whole_space(self) -> Pool:
        """Every architecture of the (enumerable) space, built once."""
        if self._space_pool is None:
            space = self.problem.space
            archs = dict.fromkeys(
                space.decode(code)
                for code in itertools.product(*(range(int(n)) for n in space.n_choices))
            )
            self._space_pool = self.make_pool(list(archs))
            self._space_index = {a: i for i, a in enumerate(self._space_pool.archs)}
            self._space_asked = np.zeros(len(archs), dtype=bool)
            for arch in self.asked:
                self.mark_asked(arch)
        return self._space_pool

    def mark_asked(self, arch: Arch) -> None:
        """Never offer ``arch`` again."""
        self.asked.add(arch)
        if self._space_asked is not None and arch in self._space_index:
            self._space_asked[self._space_index[arch]] = True

    def random_archs(self, n: int) -> list[Arch]:
        """``n`` uniformly random architectures (repeats possible)."""
        n_choices = np.asarray(self.problem.space.n_choices)
        codes = self.rng.integers(0, n_choices, size=(n, len(n_choices)))
        return [self.problem.space.decode([int(v) for v in code]) for code in codes]

    def neighbours(self, archs: Sequence[Arch]) -> list[Arch]:
        """Every single-gene change of ``archs``, mutants with up to ``local`` changed genes,
        and uniform crossovers between them."""
        space: SearchSpace = self.problem.space
        n_choices = [int(n) for n in space.n_choices]
        codes = [self.code(a) for a in archs]
        out: list[Arch] = []
        for code in codes:
            for i, n in enumerate(n_choices):
                for v in range(n):
                    if v != code[i]:
                        out.append(space.decode([*code[:i], v, *code[i + 1 :]]))
        for _ in range(_CROSSOVERS if codes else 0):
            parent = list(codes[int(self.rng.integers(len(codes)))])
            if self.local >= 2:  # a mutant with 2..local genes changed
                k = int(self.rng.integers(2, min(self.local, len(n_choices)) + 1))
                for i in self.rng.choice(len(n_choices), size=k, replace=False):
                    if n_choices[i] > 1:
                        parent[i] = int(
                            (parent[i] + self.rng.integers(1, n_choices[i])) % n_choices[i]
                        )
                out.append(space.decode(parent))
            if len(codes) >= 2:
                other = codes[int(self.rng.integers(len(codes)))]
                take = self.rng.random(len(parent)) < 0.5
                child = [a if t else b for a, b, t in zip(parent, other, take, strict=True)]
                out.append(space.decode(child))
        return out

    def pool(self, centres: Sequence[Arch]) -> Pool:
        """Unasked candidates that meet their cheap constraints (the least violating if
        none), near ``centres`` (the front) when there is a trust region."""
        if self.enumerable:
            whole = self.whole_space()
            assert self._space_asked is not None
            keep = ~self._space_asked
            if self.local and centres:
                near = np.zeros(len(keep), dtype=bool)
                for centre in np.array([self.code(a) for a in centres], dtype=np.int64):
                    near |= (whole.codes != centre).sum(axis=1) <= self.local
                far = np.flatnonzero(keep & ~near)
                extra = self.rng.choice(far, size=min(len(far), self.local_random), replace=False)
                near[extra] = True
                keep &= near
            pool = whole.take(keep)
        else:
            n_random = self.local_random if self.local and centres else self.pool_size
            archs = self.random_archs(n_random) + self.neighbours(centres)
            pool = self.make_pool([a for a in archs if a not in self.asked])
        return within_budgets(pool)


def within_budgets(pool: Pool) -> Pool:
    """The candidates of ``pool`` that meet their cheap constraints (unknown ones count as
    met), or the least violating ones when none does."""
    if pool.G.shape[1] and len(pool.archs):
        cv = violation(np.where(np.isnan(pool.G), -np.inf, pool.G))
        keep = cv <= 0
        pool = pool.take(keep if keep.any() else cv <= cv.min())
    return pool
