"""Surrogate-assisted search: a Gaussian process on the encoding, batches by expected
hypervolume improvement (EHVI) in a trust region around the Pareto front.

Hardware-aware searches have objectives of two kinds: *cheap* ones that
:attr:`Problem.cheap <hwnas.strategies.base.Problem.cheap>` gives for any candidate without an
evaluation (predicted latency, MACs, parameters) and *unknown* ones that need one (error).
This strategy spends evaluations only where they are expected to extend the Pareto front:

1. An initial design of ``initial`` architectures spread evenly over the range of the first
   cheap objective (random when there is none).
2. Every ``ask``: a Gaussian process per unknown objective (:class:`CategoricalGP`, a product
   kernel over the genes with one learned weight per gene, plus the cheap objectives as
   continuous inputs) is fitted on everything told so far. It reads ``space.encode`` or,
   where one is registered for the space (:data:`SURROGATE_ENCODINGS`), an encoding that
   maps equivalent architectures together (``nb201``: operations that cannot reach the
   output are ``none``).
3. Candidates: every unasked architecture within ``local`` gene changes of the current front
   plus ``local_random`` random ones (the whole space when ``local`` is 0 and the space has at
   most ``pool`` architectures, else ``pool`` random ones plus neighbours of the front);
   those breaking a cheap constraint are left out.
4. The batch is picked greedily. With two objectives of which one is unknown (the usual
   error-vs-latency search), each pick maximises the EHVI in closed form (the cheap
   objective is known, so the improvement is a piecewise-linear function of the unknown
   one), averaged over draws of the cheap objective's error (``cheap_noise``: a latency
   predictor is not exact, so the batch hedges); the pick then joins the front at its
   predicted value ("kriging believer") so that the next pick goes elsewhere. Other problems
   use the hypervolume improvement of an optimistic point (mean - ``kappa`` x std). A share
   ``explore`` of each batch can go to the most uncertain candidates that could extend the
   front.
5. Once the front is mapped (``pond_after`` evaluations), a share ``pond`` of each batch
   (all of it by default) goes instead to the candidates most likely not to be dominated by
   the observed front (probability of non-domination, averaged over the cheap objective's
   error draws): EHVI undervalues architectures that would join the front close to a known
   one, which is most of the true Pareto set.

Unknown objectives that are all positive (error) are modelled on a log scale (``transform``);
the EHVI is that of the objective itself (log-normal posterior). Everything is deterministic
for a seed and the values told, so a resumed search replays exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwnas.errors import ConfigError
from hwnas.pareto import hypervolume, pareto_mask, violation
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.strategies.base import Strategy, register_strategy

#: Constraint values at or above this mark a failed evaluation (see hwnas.search).
_FAILED = 1e6
#: Crossovers of front members added to a sampled pool per ask.
_CROSSOVERS = 200


class CategoricalGP:
    """A Gaussian process on categorical encodings (one integer per gene), optionally with
    continuous features (such as the cheap objectives' values).

    Kernel: ``s2 * exp(-sum_g w_g [x_g != x'_g] - sum_c v_c (z_c - z'_c)^2)`` plus noise
    ``s2 * lam`` on the diagonal, with a constant mean. The weights (one per gene: how much
    changing that gene changes the value; one per continuous feature) and ``lam`` are fitted
    by maximising the marginal likelihood (L-BFGS, warm-started from the previous fit); ``s2``
    and the mean are profiled out on standardised targets. Deterministic.

    Args:
        n_choices: Choices per gene (``space.n_choices``).
        n_continuous: Number of continuous features (standardise them first).
    """

    _W_BOUNDS = (1e-3, 20.0)
    _LAM_BOUNDS = (1e-6, 1.0)

    def __init__(self, n_choices: Sequence[int], n_continuous: int = 0) -> None:
        self.n_choices = np.asarray(n_choices, dtype=np.int64)
        self.n_continuous = int(n_continuous)
        self._offsets = np.concatenate([[0], np.cumsum(self.n_choices)[:-1]])
        n_weights = len(self.n_choices) + self.n_continuous
        self.theta = np.r_[np.full(n_weights, math.log(0.5)), math.log(0.05)]

    def _onehot(self, codes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros((len(codes), int(self.n_choices.sum())))
        if len(codes):
            rows = np.repeat(np.arange(len(codes)), len(self.n_choices))
            values = 1.0 if weights is None else np.tile(weights, len(codes))
            out[rows, (codes + self._offsets).ravel()] = values
        return out

    def _nll(
        self, theta: np.ndarray, distances: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray]:
        w, lam, n = np.exp(theta[:-1]), math.exp(theta[-1]), len(y)
        C = np.exp(-np.tensordot(w, distances, axes=1))
        A = C + lam * np.eye(n)
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        Linv = np.linalg.solve(L, np.eye(n))
        Ainv = Linv.T @ Linv
        alpha = Ainv @ y
        q = max(float(y @ alpha), 1e-300)
        nll = 0.5 * n * math.log(q / n) + float(np.log(np.diag(L)).sum())
        W = Ainv - (n / q) * np.outer(alpha, alpha)  # d nll = 0.5 tr(W dA)
        WC = W * C
        grad = np.empty_like(theta)
        grad[:-1] = -0.5 * w * np.tensordot(distances, WC, axes=([1, 2], [0, 1]))
        grad[-1] = 0.5 * lam * float(np.trace(W))
        return nll, grad

    def _check_continuous(self, continuous: np.ndarray | None, n: int) -> np.ndarray:
        if continuous is None:
            continuous = np.zeros((n, 0))
        continuous = np.asarray(continuous, dtype=float).reshape(n, -1)
        if continuous.shape[1] != self.n_continuous:
            raise ValueError(
                f"expected {self.n_continuous} continuous features, got {continuous.shape[1]}"
            )
        return continuous

    def fit(
        self,
        codes: np.ndarray,
        y: np.ndarray,
        continuous: np.ndarray | None = None,
        optimize: bool = True,
    ) -> CategoricalGP:
        """Fit on integer ``codes`` (n x genes), ``continuous`` features and values ``y``."""
        from scipy.optimize import minimize

        codes = np.asarray(codes, dtype=np.int64)
        y = np.asarray(y, dtype=float)
        z = self._check_continuous(continuous, len(codes))
        self._codes, self._z = codes, z
        self._mean = float(y.mean())
        self._scale = float(y.std()) or 1.0
        yn = (y - self._mean) / self._scale
        distances = np.concatenate(
            [
                (codes[None, :, :] != codes[:, None, :]).transpose(2, 0, 1).astype(float),
                ((z[None, :, :] - z[:, None, :]) ** 2).transpose(2, 0, 1),
            ]
        )
        if optimize and len(y) >= 3:
            lo_w, hi_w = (math.log(b) for b in self._W_BOUNDS)
            lo_l, hi_l = (math.log(b) for b in self._LAM_BOUNDS)
            bounds = [(lo_w, hi_w)] * (len(self.theta) - 1) + [(lo_l, hi_l)]
            start = np.clip(self.theta, [b[0] for b in bounds], [b[1] for b in bounds])
            result = minimize(
                self._nll,
                start,
                args=(distances, yn),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 50},
            )
            if np.all(np.isfinite(result.x)):
                self.theta = np.asarray(result.x, dtype=float)
        weights, lam = np.exp(self.theta[:-1]), math.exp(self.theta[-1])
        A = np.exp(-np.tensordot(weights, distances, axes=1)) + lam * np.eye(len(y))
        self._L = np.linalg.cholesky(A + 1e-10 * np.eye(len(y)))
        self._alpha = np.linalg.solve(self._L.T, np.linalg.solve(self._L, yn))
        self._s2 = max(float(yn @ self._alpha) / len(y), 1e-12)
        w = weights[: len(self.n_choices)]
        self._v = weights[len(self.n_choices) :]
        self._train = self._onehot(codes, w)
        self._wsum = float(w.sum())
        return self

    def predict(
        self, codes: np.ndarray, continuous: np.ndarray | None = None, chunk: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (of the latent function) at ``codes``."""
        from scipy.linalg import solve_triangular

        codes = np.asarray(codes, dtype=np.int64)
        z = self._check_continuous(continuous, len(codes))
        means, stds = [], []
        for start in range(0, len(codes), chunk):
            part = self._onehot(codes[start : start + chunk])
            exponent = part @ self._train.T - self._wsum
            for c, v in enumerate(self._v):
                diff = z[start : start + chunk, c][:, None] - self._z[:, c][None, :]
                exponent -= v * diff * diff
            K = np.exp(exponent)
            u = solve_triangular(self._L, K.T, lower=True, check_finite=False)
            means.append(K @ self._alpha)
            stds.append(np.sqrt(self._s2 * np.maximum(1.0 - np.sum(u * u, axis=0), 1e-12)))
        if not means:
            return np.empty(0), np.empty(0)
        mean = np.concatenate(means) * self._scale + self._mean
        return mean, np.concatenate(stds) * self._scale


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return np.asarray(ndtr(z))


def expected_shortfall(
    level: np.ndarray, mu: np.ndarray, sigma: np.ndarray, log: bool
) -> np.ndarray:
    """``E[max(0, level - Y)]`` for ``Y ~ N(mu, sigma)`` or, with ``log``, ``log Y ~ N(mu, sigma)``.

    Broadcasts ``level`` (any shape) against ``mu`` and ``sigma``.
    """
    sigma = np.maximum(sigma, 1e-12)
    if not log:
        z = (level - mu) / sigma
        return np.maximum((level - mu) * _normal_cdf(z) + sigma * _normal_pdf(z), 0.0)
    positive = level > 0
    safe = np.where(positive, level, 1.0)
    z = (np.log(safe) - mu) / sigma
    value = safe * _normal_cdf(z) - np.exp(mu + 0.5 * sigma * sigma) * _normal_cdf(z - sigma)
    return np.where(positive, np.maximum(value, 0.0), 0.0)


def front_2d(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``points`` (k x 2, minimised), by column 0.

    Of duplicate points, the first is kept.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if not len(points):
        return np.empty(0, dtype=int)
    order = np.lexsort((points[:, 1], points[:, 0]))
    best = np.minimum.accumulate(points[order, 1])
    keep = np.r_[True, points[order[1:], 1] < best[:-1]]
    return order[keep]


def ehvi_2d(
    front: np.ndarray,
    reference: np.ndarray,
    known: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    log: bool,
) -> np.ndarray:
    """Exact expected hypervolume improvement of candidates in two minimised objectives.

    Column 0 is known exactly for each candidate (``known``); column 1 is uncertain
    (normal ``mu``/``sigma``, or log-normal with ``log``).

    Args:
        front: Current points (k x 2); dominated ones and those outside the reference are
            ignored.
        reference: The reference point (2,).
        known: Candidates' known values (N,).
        mu: Posterior mean (of the log with ``log``) of the uncertain value (N,).
        sigma: Posterior standard deviation (N,).
        log: Whether the posterior is log-normal.
    """
    front = np.asarray(front, dtype=float).reshape(-1, 2)
    front = front[np.all(front < reference, axis=1)]
    front = front[front_2d(front)]
    levels = np.r_[reference[1], front[:, 1]]
    shortfall = expected_shortfall(levels[None, :], mu[:, None], sigma[:, None], log)
    return _segment_sum(front[:, 0], reference[0], np.asarray(known, float), shortfall)


def pond_2d(
    front: np.ndarray,
    reference: np.ndarray,
    known: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    log: bool,
) -> np.ndarray:
    """Probability that each candidate is not dominated by ``front`` (two minimised
    objectives; column 0 known exactly, column 1 normal or, with ``log``, log-normal).

    A candidate at ``known`` is dominated by a point that is no worse in both columns, so it
    stays non-dominated when its value is below the lowest column-1 value among the points
    with column 0 at or below ``known`` (``reference[1]`` when there is none).
    """
    front = np.asarray(front, dtype=float).reshape(-1, 2)
    known = np.asarray(known, dtype=float)
    order = np.argsort(front[:, 0], kind="stable")
    best = np.minimum.accumulate(front[order, 1]) if len(order) else np.empty(0)
    position = np.searchsorted(front[order, 0], known, side="right")
    level = np.where(
        position > 0, best[np.maximum(position - 1, 0)] if len(best) else 0.0, reference[1]
    )
    level = np.minimum(level, reference[1])
    sigma = np.maximum(sigma, 1e-12)
    if log:
        z = (np.log(np.where(level > 0, level, 1e-300)) - mu) / sigma
        return np.where(level > 0, _normal_cdf(z), 0.0)
    return _normal_cdf((level - mu) / sigma)


def _segment_sum(
    breaks: np.ndarray, end: float, known: np.ndarray, shortfall: np.ndarray
) -> np.ndarray:
    """``sum_j max(0, b_{j+1} - max(c, b_j)) * shortfall[:, j]`` over the front's segments.

    ``breaks`` are the front's known values in increasing order; segment ``j`` runs from
    ``b_j`` (``-inf`` for the first) to ``b_{j+1}`` (``end`` for the last) at the level of
    column ``j`` of ``shortfall`` (N x (len(breaks) + 1)).
    """
    starts = np.r_[-np.inf, breaks]
    ends = np.r_[breaks, end]
    lengths = np.maximum(ends[None, :] - np.maximum(known[:, None], starts[None, :]), 0.0)
    return np.asarray((lengths * shortfall).sum(axis=1))


def nb201_effective_encoding(space: SearchSpace, arch: Arch) -> tuple[int, ...]:
    """The nb201 encoding with every operation that cannot affect the output set to ``none``.

    An edge matters only when its operation is not ``none``, its source node is reachable
    from the input and its target node reaches the output through such edges; the others
    compute nothing that reaches the output (their accuracy is that of the pruned cell).
    """
    from hwnas.spaces.nb201 import EDGES

    code = space.encode(arch)
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


#: Encodings the surrogate may use instead of ``space.encode``, by name: the space they
#: apply to and the function (same genes and choices as the space's encoding). ``auto``
#: uses the one registered for the searched space, if any.
SURROGATE_ENCODINGS: dict[str, tuple[str, Any]] = {
    "nb201-effective": ("nb201", nb201_effective_encoding),
}


@dataclass
class _Pool:
    """Candidates of one ask: architectures, encodings, cheap objectives and constraints."""

    archs: list[Arch]
    codes: np.ndarray
    model_codes: np.ndarray
    F: np.ndarray
    G: np.ndarray

    def take(self, keep: np.ndarray) -> _Pool:
        index = np.flatnonzero(keep)
        return _Pool(
            [self.archs[i] for i in index],
            self.codes[index],
            self.model_codes[index],
            self.F[index],
            self.G[index],
        )


def _check_int(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"strategy.{field}", f"an integer >= {minimum}", value)
    return value


def _check_float(field: str, value: Any, low: float, high: float = math.inf) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not low <= float(value) <= high:
        expected = f"a number in [{low}, {high}]" if math.isfinite(high) else f"a number >= {low}"
        raise ConfigError(f"strategy.{field}", expected, value)
    return float(value)


@register_strategy("surrogate-ehvi")
class SurrogateEHVI(Strategy):
    """Gaussian-process surrogate of the unknown objectives, batches by expected HV gain.

    Args:
        initial: Architectures of the initial design (before the first model).
        pool: Spaces of at most this many architectures are enumerated and every unasked
            one is a candidate; larger spaces draw this many random candidates per ask.
        local: When > 0, candidates are restricted to architectures within this many gene
            changes of the current Pareto front (a trust region, where the surrogate is
            reliable) plus ``local_random`` random ones (exploration); 0 scores the pool.
        local_random: Random candidates added to the trust region per ask.
        explore: Share of each batch given to the most uncertain candidates whose optimistic
            value (mean - ``kappa`` x std) would extend the front.
        kappa: Optimism of exploration picks and of the acquisition of problems other than
            two objectives with one unknown (standard deviations).
        cheap_noise: Relative error of the cheap objectives (a latency predictor's) as a
            standard deviation, ``cheap_noise * max(|value|, first quartile of the pool)``.
            The EHVI is then averaged over ``noise_samples`` draws of those errors, for the
            candidates and the evaluated points alike, so that a batch hedges against wrong
            predictions of the cheap objective. 0: cheap values are exact.
        noise_samples: Draws of the cheap objectives' errors per ask.
        shortlist: Candidates kept, by noise-free EHVI, for the noise-averaged one.
        transform: ``"log"`` (model positive unknown objectives on a log scale) or
            ``"none"``.
        cheap_features: Give the surrogate the cheap objectives' values (log-scaled when
            positive, standardised) as inputs besides the encoding.
        encoding: What the surrogate reads: ``"space"`` (``space.encode``), a name of
            :data:`SURROGATE_ENCODINGS`, or ``"auto"`` (the one registered for the searched
            space, ``nb201-effective`` for ``nb201``, else ``space``).
        refit_every: Re-optimise the surrogate's hyperparameters every this many asks
            (the posterior always uses every value told).
        reference_margin: The hypervolume reference point lies this share of each
            objective's observed range beyond its worst value.
        pond: Once ``pond_after`` architectures are evaluated, this share of each batch goes
            to the candidates with the highest probability of not being dominated by the
            observed front (PoND) instead of the highest EHVI (two objectives with one
            unknown). EHVI alone neglects candidates that would join the front close to a
            known point (they add little hypervolume); PoND picks them, which finds more of
            the true Pareto set (recall) at the same hypervolume. Tuned on NAS-Bench-201
            (seeds 0-9, five device columns): ``pond=1, pond_after=100`` raised 300-query
            recall from 16-40 % to 20-53 %; regret fell on four of the five columns and
            rose on Pixel 3 (0.54 % -> 0.59 %). Where the front is set by noise the
            surrogate cannot learn, EHVI alone can recall more (a synthetic nb201 front set
            by per-architecture noise: 17.0 vs 11.5 of 69 at 200 evaluations, six seeds).
        pond_after: Evaluations before PoND picks start (EHVI first maps the front).
    """

    name = "surrogate-ehvi"

    def __init__(
        self,
        initial: int = 20,
        pool: int = 20000,
        local: int = 1,
        local_random: int = 1000,
        explore: float = 0.0,
        kappa: float = 2.0,
        cheap_noise: float = 0.03,
        noise_samples: int = 16,
        shortlist: int = 1000,
        transform: str = "log",
        cheap_features: bool = True,
        encoding: str = "auto",
        refit_every: int = 1,
        reference_margin: float = 0.01,
        pond: float = 1.0,
        pond_after: int = 100,
    ) -> None:
        self.pond = _check_float("pond", pond, 0.0, 1.0)
        self.pond_after = _check_int("pond_after", pond_after, 0)
        self.initial = _check_int("initial", initial, 2)
        self.pool = _check_int("pool", pool, 10)
        self.local = _check_int("local", local, 0)
        self.local_random = _check_int("local_random", local_random, 0)
        self.explore = _check_float("explore", explore, 0.0, 1.0)
        self.kappa = _check_float("kappa", kappa, 0.0)
        self.cheap_noise = _check_float("cheap_noise", cheap_noise, 0.0)
        self.noise_samples = _check_int("noise_samples", noise_samples, 1)
        self.shortlist = _check_int("shortlist", shortlist, 1)
        if transform not in ("log", "none"):
            raise ConfigError("strategy.transform", "'log' or 'none'", transform)
        self.transform = transform
        self.cheap_features = bool(cheap_features)
        if encoding not in ("auto", "space", *SURROGATE_ENCODINGS):
            known = ", ".join(("auto", "space", *SURROGATE_ENCODINGS))
            raise ConfigError("strategy.encoding", f"one of {known}", encoding)
        self.encoding = encoding
        self.refit_every = _check_int("refit_every", refit_every, 1)
        self.reference_margin = _check_float("reference_margin", reference_margin, 0.0)

    # -- state --------------------------------------------------------------------------
    def _setup(self) -> None:
        space = self.problem.space
        self._cheap: dict[Arch, tuple[np.ndarray, np.ndarray]] = {}
        self._codes: dict[Arch, tuple[int, ...]] = {}
        self._model_codes: dict[Arch, tuple[int, ...]] = {}
        self._encoder: Any = None
        if self.encoding == "auto":
            for space_name, function in SURROGATE_ENCODINGS.values():
                if space_name == space.name:
                    self._encoder = function
        elif self.encoding != "space":
            space_name, function = SURROGATE_ENCODINGS[self.encoding]
            if space_name != space.name:
                raise ConfigError(
                    "strategy.encoding",
                    f"an encoding of space {space.name!r} (or 'auto', 'space')",
                    self.encoding,
                )
            self._encoder = function
        self._told: dict[Arch, tuple[np.ndarray, np.ndarray]] = {}
        self._asked: set[Arch] = set()
        self._queue: list[Arch] = []
        self._space_pool: _Pool | None = None
        self._space_index: dict[Arch, int] = {}
        self._space_asked: np.ndarray | None = None
        self._models: dict[int, CategoricalGP] = {}
        self._fits = 0
        self._unknown: list[int] | None = None
        self._enumerable = space.size() <= self.pool

    def state(self) -> dict[str, Any]:
        return {"told": len(self._told), "model_fits": self._fits}

    # -- encodings and cheap values ------------------------------------------------------
    def _code(self, arch: Arch) -> tuple[int, ...]:
        code = self._codes.get(arch)
        if code is None:
            code = self._codes[arch] = tuple(self.problem.space.encode(arch))
        return code

    def _model_code_array(self, archs: Sequence[Arch]) -> np.ndarray:
        rows = []
        for arch in archs:
            if self._encoder is None:
                rows.append(self._code(arch))
                continue
            code = self._model_codes.get(arch)
            if code is None:
                code = self._model_codes[arch] = tuple(self._encoder(self.problem.space, arch))
            rows.append(code)
        return np.array(rows, dtype=np.int64).reshape(len(archs), self.problem.space.n_dims)

    def _cheap_values(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
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

    # -- candidates ---------------------------------------------------------------------
    def _make_pool(self, archs: Sequence[Arch]) -> _Pool:
        archs = list(dict.fromkeys(archs))
        F, G = self._cheap_values(archs)
        codes = np.array([self._code(a) for a in archs], dtype=np.int64)
        codes = codes.reshape(len(archs), self.problem.space.n_dims)
        return _Pool(archs, codes, self._model_code_array(archs), F, G)

    def _whole_space(self) -> _Pool:
        if self._space_pool is None:
            space = self.problem.space
            archs = dict.fromkeys(
                space.decode(code)
                for code in itertools.product(*(range(int(n)) for n in space.n_choices))
            )
            self._space_pool = self._make_pool(list(archs))
            self._space_index = {a: i for i, a in enumerate(self._space_pool.archs)}
            self._space_asked = np.zeros(len(archs), dtype=bool)
            for arch in self._asked:
                self._mark_asked(arch)
        return self._space_pool

    def _mark_asked(self, arch: Arch) -> None:
        self._asked.add(arch)
        if self._space_asked is not None and arch in self._space_index:
            self._space_asked[self._space_index[arch]] = True

    def _random_archs(self, n: int) -> list[Arch]:
        n_choices = np.asarray(self.problem.space.n_choices)
        codes = self.rng.integers(0, n_choices, size=(n, len(n_choices)))
        return [self.problem.space.decode([int(v) for v in code]) for code in codes]

    def _neighbours(self, archs: Sequence[Arch]) -> list[Arch]:
        """Every single-gene change of ``archs``, mutants with up to ``local`` changed genes,
        and uniform crossovers between them."""
        space: SearchSpace = self.problem.space
        n_choices = [int(n) for n in space.n_choices]
        codes = [self._code(a) for a in archs]
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

    def _pool(self, centres: Sequence[Arch]) -> _Pool:
        """Unasked candidates that meet their cheap constraints (the least violating if none)."""
        if self._enumerable:
            whole = self._whole_space()
            assert self._space_asked is not None
            keep = ~self._space_asked
            if self.local and centres:
                near = np.zeros(len(keep), dtype=bool)
                for centre in np.array([self._code(a) for a in centres], dtype=np.int64):
                    near |= (whole.codes != centre).sum(axis=1) <= self.local
                far = np.flatnonzero(keep & ~near)
                extra = self.rng.choice(far, size=min(len(far), self.local_random), replace=False)
                near[extra] = True
                keep &= near
            pool = whole.take(keep)
        else:
            n_random = self.local_random if self.local and centres else self.pool
            archs = self._random_archs(n_random) + self._neighbours(centres)
            pool = self._make_pool([a for a in archs if a not in self._asked])
        if pool.G.shape[1] and len(pool.archs):
            cv = violation(np.where(np.isnan(pool.G), -np.inf, pool.G))
            keep = cv <= 0
            pool = pool.take(keep if keep.any() else cv <= cv.min())
        return pool

    # -- ask / tell ---------------------------------------------------------------------
    def ask(self, n: int) -> list[Arch]:
        if n < 1:
            return []
        out: list[Arch] = []
        if not self._told and not self._queue and not self._asked:
            self._queue = self._initial_design()
        while self._queue and len(out) < n:
            arch = self._queue.pop(0)
            if arch not in self._asked:
                out.append(arch)
                self._mark_asked(arch)
        if len(out) < n and not self._queue:
            data = self._training_data()
            if len(data[0]) >= 2:
                picks = self._model_batch(n - len(out), data)
            else:  # not enough data for a model yet: random, feasible
                pool = self._pool([])
                k = min(n - len(out), len(pool.archs))
                picks = [pool.archs[i] for i in self.rng.choice(len(pool.archs), k, replace=False)]
            for arch in picks:
                out.append(arch)
                self._mark_asked(arch)
        return out

    def tell(self, archs: Sequence[Arch], F: np.ndarray, G: np.ndarray) -> None:
        F = np.asarray(F, dtype=float).reshape(len(archs), -1)
        G = np.asarray(G, dtype=float).reshape(len(archs), -1)
        for arch, f, g in zip(archs, F, G, strict=True):
            self._told[arch] = (f, g)
            self._mark_asked(arch)

    # -- the initial design --------------------------------------------------------------
    def _initial_design(self) -> list[Arch]:
        """One random candidate from each of ``initial`` strata of equal width over the first
        cheap objective (so that its sparse extremes are covered), then random ones."""
        if self._enumerable:
            pool = self._pool([])
        else:
            pool = self._make_pool(self._random_archs(self.pool))
            if pool.G.shape[1] and len(pool.archs):
                cv = violation(np.where(np.isnan(pool.G), -np.inf, pool.G))
                pool = pool.take(cv <= 0 if (cv <= 0).any() else cv <= cv.min())
        k = min(self.initial, len(pool.archs))
        order = self.rng.permutation(len(pool.archs))
        F = pool.F
        known = [j for j in range(F.shape[1]) if np.isfinite(F[:, j]).all()] if len(F) else []
        if not known:
            return [pool.archs[i] for i in order[:k]]
        values = F[order, known[0]]
        lo, hi = float(values.min()), float(values.max())
        strata = np.minimum(((values - lo) / max(hi - lo, 1e-300) * k).astype(int), k - 1)
        picks: list[int] = []
        for stratum in range(k):
            members = np.flatnonzero(strata == stratum)
            if len(members):
                picks.append(int(members[0]))  # ``order`` is already a random permutation
        chosen = set(picks)
        picks += [i for i in range(len(order)) if i not in chosen][: k - len(picks)]
        return [pool.archs[order[i]] for i in picks]

    # -- the model ------------------------------------------------------------------------
    def _training_data(self) -> tuple[list[Arch], np.ndarray]:
        """Told architectures whose values were measured (not failed, not skipped)."""
        archs, rows = [], []
        for arch, (f, g) in self._told.items():
            if not np.all(np.isfinite(f)) or (len(g) and np.nanmax(g) >= _FAILED):
                continue
            cheap_g = self._cheap.get(arch, (None, np.full(len(g), np.nan)))[1]
            if len(cheap_g) and np.nanmax(np.r_[cheap_g, -np.inf]) > 0:
                continue  # skipped for a cheap budget: its values were never measured
            archs.append(arch)
            rows.append(f)
        return archs, np.array(rows).reshape(len(rows), self.problem.n_objectives)

    def _fit(
        self, archs: list[Arch], values: np.ndarray, unknown: list[int], z: np.ndarray
    ) -> list[bool]:
        """Fit one model per unknown objective; returns whether each is on a log scale."""
        codes = self._model_code_array(archs)
        optimize = (self._fits % self.refit_every) == 0
        logs = []
        for j in unknown:
            y = values[:, j]
            log = self.transform == "log" and bool(np.all(y > 0))
            model = self._models.get(j) or CategoricalGP(self.problem.space.n_choices, z.shape[1])
            model.fit(codes, np.log(y) if log else y, z, optimize=optimize)
            self._models[j] = model
            logs.append(log)
        self._fits += 1
        return logs

    def _features(self, pool: _Pool) -> Any:
        """A function standardising the known (cheap) objectives' values as features."""
        known = [j for j in range(pool.F.shape[1]) if np.isfinite(pool.F[:, j]).all()]
        if not self.cheap_features or not known or not len(pool.archs):
            return lambda F: np.zeros((len(F), 0))
        raw = pool.F[:, known]
        logs = np.all(raw > 0, axis=0)

        def transform(values: np.ndarray) -> np.ndarray:
            return np.where(logs, np.log(np.where(logs, values, 1.0)), values)

        base = transform(raw)
        mean, std = base.mean(axis=0), base.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return lambda F: (transform(F[:, known]) - mean) / std

    def _model_batch(self, n: int, data: tuple[list[Arch], np.ndarray]) -> list[Arch]:
        told_archs, told_F = data
        feasible = np.array([violation(self._told[a][1][None, :])[0] <= 0 for a in told_archs])
        observed = told_F[feasible]
        front = np.flatnonzero(feasible)[pareto_mask(observed)] if len(observed) else []
        pool = self._pool([told_archs[i] for i in front])
        if not pool.archs:
            return []
        if not self._unknown:
            self._unknown = [j for j in range(pool.F.shape[1]) if np.isnan(pool.F[:, j]).any()]
        unknown = self._unknown
        features = self._features(pool)
        told_cheap, _ = self._cheap_values(told_archs)
        logs = self._fit(told_archs, told_F, unknown, features(told_cheap)) if unknown else []
        z = features(pool.F)
        mu = np.zeros((len(pool.archs), len(unknown)))
        sd = np.zeros_like(mu)
        for k, j in enumerate(unknown):
            mu[:, k], sd[:, k] = self._models[j].predict(pool.model_codes, z)
        everything = np.vstack([observed, pool.F])
        hi, lo = np.nanmax(everything, axis=0), np.nanmin(everything, axis=0)
        reference = hi + self.reference_margin * np.maximum(hi - lo, 1e-12)
        n = min(n, len(pool.archs))
        n_explore = min(n, int(np.floor(self.explore * n + self.rng.random())))
        two_d = pool.F.shape[1] == 2 and len(unknown) == 1
        n_pond = 0
        if two_d and len(told_archs) >= self.pond_after:
            n_pond = min(n - n_explore, int(np.floor(self.pond * n + self.rng.random())))
        if two_d:
            picks = self._ehvi_batch(
                n - n_explore - n_pond,
                pool,
                observed,
                reference,
                unknown[0],
                mu[:, 0],
                sd[:, 0],
                logs[0],
            )
        else:
            picks = self._optimistic_batch(
                n - n_explore, pool, observed, reference, unknown, mu, sd, logs
            )
        if n_pond:
            picks += self._pond_batch(
                n_pond, picks, pool, observed, reference, unknown[0], mu[:, 0], sd[:, 0], logs[0]
            )
        if n_explore:
            picks += self._explore_batch(
                n_explore, picks, pool, observed, reference, unknown, mu, sd, logs
            )
        return [pool.archs[i] for i in picks]

    def _optimistic(
        self, pool: _Pool, unknown: list[int], mu: np.ndarray, sd: np.ndarray, logs: list[bool]
    ) -> np.ndarray:
        """Cheap values with the unknown ones at mean - kappa x std (original scale)."""
        optimistic = pool.F.copy()
        for c, j in enumerate(unknown):
            value = mu[:, c] - self.kappa * sd[:, c]
            optimistic[:, j] = np.exp(value) if logs[c] else value
        return optimistic

    def _believed(
        self, pool: _Pool, i: int, unknown: list[int], mu: np.ndarray, logs: list[bool]
    ) -> np.ndarray:
        """Candidate ``i`` at its predicted values (the "kriging believer")."""
        row = pool.F[i].copy()
        for k, j in enumerate(unknown):
            row[j] = math.exp(mu[i, k]) if logs[k] else mu[i, k]
        return row

    def _jitter(self, values: np.ndarray, scale: float, samples: int = 1) -> np.ndarray:
        """``samples`` draws (rows) of cheap values ``values`` with their relative error:
        ``cheap_noise * max(|value|, scale)`` standard deviations."""
        eps = self.rng.standard_normal((samples, len(values)))
        return values + self.cheap_noise * np.maximum(np.abs(values), scale) * eps

    def _ehvi_batch(
        self,
        n: int,
        pool: _Pool,
        observed: np.ndarray,
        reference: np.ndarray,
        u: int,
        mu: np.ndarray,
        sd: np.ndarray,
        log: bool,
    ) -> list[int]:
        """Greedy EHVI picks (kriging believer), averaged over cheap-objective errors."""
        if n <= 0:
            return []
        k = 1 - u
        obs_k, obs_u = observed[:, k], observed[:, u]
        # A first, noise-free EHVI over the pool; the noise-averaged one on a shortlist.
        first = ehvi_2d(np.c_[obs_k, obs_u], reference[[k, u]], pool.F[:, k], mu, sd, log)
        if self.cheap_noise > 0:
            size = min(len(first), max(self.shortlist, n))
            short = np.sort(np.argsort(-first, kind="stable")[:size])
            samples = self.noise_samples
        else:
            short = np.arange(len(first))
            samples = 1
        cand_k = pool.F[short, k]
        if samples > 1:
            scale = max(float(np.percentile(np.abs(pool.F[:, k]), 25)), 1e-12)
            point_k = self._jitter(obs_k, scale, samples)
            cand_s = self._jitter(cand_k, scale, samples)
        else:
            point_k, cand_s = obs_k[None, :], cand_k[None, :]
        ref_k, ref_u = reference[k], reference[u]
        point_u = obs_u
        # Shortfall of each candidate below each level a front point can set (column 0:
        # the reference), extended with the believed value of each pick.
        levels = np.r_[ref_u, obs_u]
        shortfall = expected_shortfall(levels[None, :], mu[short, None], sd[short, None], log)
        picks: list[int] = []
        available = np.ones(len(short), dtype=bool)
        for _ in range(min(n, len(short))):
            total = np.zeros(len(short))
            for s in range(samples):
                inside = np.flatnonzero((point_k[s] < ref_k) & (point_u < ref_u))
                front = inside[front_2d(np.c_[point_k[s, inside], point_u[inside]])]
                columns = np.r_[0, front + 1]
                total += _segment_sum(point_k[s, front], ref_k, cand_s[s], shortfall[:, columns])
            total = np.where(available, total, -np.inf)
            if total.max() <= 0:  # nothing promises a gain: the most uncertain candidate
                total = np.where(available, sd[short], -np.inf)
            i = int(np.argmax(total))
            available[i] = False
            picks.append(int(short[i]))
            believed = math.exp(mu[short[i]]) if log else float(mu[short[i]])
            point_k = np.c_[point_k, cand_s[:, i]]
            point_u = np.r_[point_u, believed]
            level = expected_shortfall(
                np.array([[believed]]), mu[short, None], sd[short, None], log
            )
            shortfall = np.c_[shortfall, level]
        return picks

    def _pond_batch(
        self,
        n: int,
        taken: list[int],
        pool: _Pool,
        observed: np.ndarray,
        reference: np.ndarray,
        u: int,
        mu: np.ndarray,
        sd: np.ndarray,
        log: bool,
    ) -> list[int]:
        """The ``n`` candidates not in ``taken`` most likely not to be dominated by the
        observed front: ``P(unknown value < the front's level at the candidate's cheap
        value)``, averaged over ``noise_samples`` draws of the cheap objective's error."""
        k = 1 - u
        obs_k, obs_u = observed[:, k], observed[:, u]
        cand_k = pool.F[:, k]
        samples = self.noise_samples if self.cheap_noise > 0 else 1
        scale = max(float(np.percentile(np.abs(cand_k), 25)), 1e-12)
        total = np.zeros(len(cand_k))
        for _ in range(samples):
            if samples > 1:  # drawn per sample: the order of draws is part of the seed's result
                pk, ck = self._jitter(obs_k, scale)[0], self._jitter(cand_k, scale)[0]
            else:
                pk, ck = obs_k, cand_k
            total += pond_2d(np.c_[pk, obs_u], reference[[k, u]], ck, mu, sd, log)
        total[taken] = -np.inf
        order = np.argsort(-total, kind="stable")
        return [int(i) for i in order[:n] if np.isfinite(total[i])]

    def _optimistic_batch(
        self,
        n: int,
        pool: _Pool,
        observed: np.ndarray,
        reference: np.ndarray,
        unknown: list[int],
        mu: np.ndarray,
        sd: np.ndarray,
        logs: list[bool],
    ) -> list[int]:
        """Greedy picks by the hypervolume gain of optimistic points (other problems)."""
        optimistic = self._optimistic(pool, unknown, mu, sd, logs)
        front = observed[pareto_mask(observed)] if len(observed) else observed
        picks: list[int] = []
        available = np.ones(len(pool.archs), dtype=bool)
        spread = sd.sum(axis=1) + 1e-12 * self.rng.random(len(pool.archs))
        for _ in range(min(n, len(pool.archs))):
            gain = _hv_improvement(front, optimistic, reference, self.rng)
            score = np.where(available, gain, -np.inf)
            if score.max() <= 0:
                score = np.where(available, spread, -np.inf)
            i = int(np.argmax(score))
            available[i] = False
            picks.append(i)
            row = self._believed(pool, i, unknown, mu, logs)
            front = np.vstack([front, row[None, :]]) if len(front) else row[None, :]
            front = front[pareto_mask(front)]
        return picks

    def _explore_batch(
        self,
        n: int,
        taken: list[int],
        pool: _Pool,
        observed: np.ndarray,
        reference: np.ndarray,
        unknown: list[int],
        mu: np.ndarray,
        sd: np.ndarray,
        logs: list[bool],
    ) -> list[int]:
        """The most uncertain candidates among those whose optimistic value would extend
        the front (believed picks included)."""
        optimistic = self._optimistic(pool, unknown, mu, sd, logs)
        rows = [self._believed(pool, i, unknown, mu, logs) for i in taken]
        front = np.vstack([observed, *rows]) if rows else observed
        front = front[pareto_mask(front)] if len(front) else front
        gain = _hv_improvement(front, optimistic, reference, self.rng)
        spread = sd.sum(axis=1) if sd.size else self.rng.random(len(pool.archs))
        score = np.where(gain > 0, spread, -1.0)
        score[taken] = -np.inf
        order = np.argsort(-score, kind="stable")
        return [int(i) for i in order[:n] if np.isfinite(score[i])]


def _hv_improvement(
    front: np.ndarray, points: np.ndarray, reference: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Hypervolume gained by adding each row of ``points`` alone to ``front``.

    Exact in two objectives (vectorised); otherwise computed for at most 200 candidates not
    dominated by the front (chosen at random), 0 for the rest.
    """
    out = np.zeros(len(points))
    if points.shape[1] == 2:
        return ehvi_2d(front, reference, points[:, 0], points[:, 1], np.zeros(len(points)), False)
    inside = np.all(points < reference, axis=1)
    if len(front):
        dominated = np.all(front[None, :, :] <= points[:, None, :], axis=2).any(axis=1)
        inside &= ~dominated
    index = np.flatnonzero(inside)
    if len(index) > 200:
        index = np.sort(rng.choice(index, size=200, replace=False))
    base = hypervolume(front, reference) if len(front) else 0.0
    for i in index:
        stacked = np.vstack([front, points[i][None, :]]) if len(front) else points[i][None, :]
        out[i] = hypervolume(stacked, reference) - base
    return out
