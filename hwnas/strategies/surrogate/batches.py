"""How ``surrogate-ehvi`` fills a batch from a pool and the surrogate's posterior.

Greedy picks by closed-form EHVI (two objectives, one unknown), by the probability of
non-domination (PoND), by the hypervolume gain of optimistic points (other problems), and
the most uncertain candidates that could extend the front (exploration). Each pick joins
the front at its predicted value ("kriging believer") so that the next pick goes elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwnas.pareto import front_2d, pareto_mask
from hwnas.strategies.surrogate.acquisition import (
    Candidates2D,
    ehvi_2d,
    expected_shortfall,
    hv_improvement,
    pond_2d,
    segment_sum,
)
from hwnas.strategies.surrogate.candidates import Pool


@dataclass(frozen=True)
class Posterior:
    """What one ask knows.

    Attributes:
        pool: The candidates.
        observed: Objective values of the feasible evaluated architectures (k x objectives).
        reference: The hypervolume reference point (objectives,).
        unknown: The objectives that need an evaluation (their column indices).
        mu: The surrogate's posterior mean of each unknown objective at each candidate
            (candidates x unknown), of its log where ``logs``.
        sd: The posterior standard deviations (same shape).
        logs: Whether each unknown objective is modelled on a log scale.
    """

    pool: Pool
    observed: np.ndarray
    reference: np.ndarray
    unknown: list[int]
    mu: np.ndarray
    sd: np.ndarray
    logs: list[bool]

    def single(self) -> tuple[int, np.ndarray, np.ndarray, bool]:
        """The unknown objective's column, mean, std and log flag (when there is one)."""
        return self.unknown[0], self.mu[:, 0], self.sd[:, 0], self.logs[0]

    def optimistic(self, kappa: float) -> np.ndarray:
        """Cheap values with the unknown ones at mean - kappa x std (original scale)."""
        optimistic = self.pool.F.copy()
        for c, j in enumerate(self.unknown):
            value = self.mu[:, c] - kappa * self.sd[:, c]
            optimistic[:, j] = np.exp(value) if self.logs[c] else value
        return optimistic

    def believed(self, i: int) -> np.ndarray:
        """Candidate ``i`` at its predicted values (the "kriging believer")."""
        row = self.pool.F[i].copy()
        for k, j in enumerate(self.unknown):
            row[j] = math.exp(self.mu[i, k]) if self.logs[k] else self.mu[i, k]
        return row


@dataclass
class BatchPicker:
    """The batch rules with the strategy's settings (see :class:`SurrogateEHVI`).

    Args:
        rng: The strategy's random generator (shared: the order of draws is the seed's).
        kappa: Optimism (standard deviations) of exploration and optimistic picks.
        cheap_noise: Relative error of the cheap objective (0: exact).
        noise_samples: Draws of that error per pick.
        shortlist: Candidates kept, by noise-free EHVI, for the noise-averaged one.
    """

    rng: np.random.Generator
    kappa: float
    cheap_noise: float
    noise_samples: int
    shortlist: int

    def jitter(self, values: np.ndarray, scale: float, samples: int = 1) -> np.ndarray:
        """``samples`` draws (rows) of cheap values ``values`` with their relative error:
        ``cheap_noise * max(|value|, scale)`` standard deviations."""
        eps = self.rng.standard_normal((samples, len(values)))
        return values + self.cheap_noise * np.maximum(np.abs(values), scale) * eps

    def ehvi(self, n: int, post: Posterior) -> list[int]:
        """Greedy EHVI picks (kriging believer), averaged over cheap-objective errors (two
        objectives, one unknown)."""
        if n <= 0:
            return []
        pool, observed, reference = post.pool, post.observed, post.reference
        u, mu, sd, log = post.single()
        k = 1 - u
        obs_k, obs_u = observed[:, k], observed[:, u]
        # A first, noise-free EHVI over the pool; the noise-averaged one on a shortlist.
        first = ehvi_2d(
            np.c_[obs_k, obs_u], reference[[k, u]], Candidates2D(pool.F[:, k], mu, sd, log)
        )
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
            point_k = self.jitter(obs_k, scale, samples)
            cand_s = self.jitter(cand_k, scale, samples)
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
                total += segment_sum(point_k[s, front], ref_k, cand_s[s], shortfall[:, columns])
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

    def pond(self, n: int, taken: list[int], post: Posterior) -> list[int]:
        """The ``n`` candidates not in ``taken`` most likely not to be dominated by the
        observed front: ``P(unknown value < the front's level at the candidate's cheap
        value)``, averaged over ``noise_samples`` draws of the cheap objective's error (two
        objectives, one unknown)."""
        observed, reference = post.observed, post.reference
        u, mu, sd, log = post.single()
        k = 1 - u
        obs_k, obs_u = observed[:, k], observed[:, u]
        cand_k = post.pool.F[:, k]
        samples = self.noise_samples if self.cheap_noise > 0 else 1
        scale = max(float(np.percentile(np.abs(cand_k), 25)), 1e-12)
        total = np.zeros(len(cand_k))
        for _ in range(samples):
            if samples > 1:  # drawn per sample: the order of draws is part of the seed's result
                pk, ck = self.jitter(obs_k, scale)[0], self.jitter(cand_k, scale)[0]
            else:
                pk, ck = obs_k, cand_k
            total += pond_2d(np.c_[pk, obs_u], reference[[k, u]], Candidates2D(ck, mu, sd, log))
        total[taken] = -np.inf
        order = np.argsort(-total, kind="stable")
        return [int(i) for i in order[:n] if np.isfinite(total[i])]

    def optimistic_batch(self, n: int, post: Posterior) -> list[int]:
        """Greedy picks by the hypervolume gain of optimistic points (other problems)."""
        pool, observed, reference, sd = post.pool, post.observed, post.reference, post.sd
        optimistic = post.optimistic(self.kappa)
        front = observed[pareto_mask(observed)] if len(observed) else observed
        picks: list[int] = []
        available = np.ones(len(pool.archs), dtype=bool)
        spread = sd.sum(axis=1) + 1e-12 * self.rng.random(len(pool.archs))
        for _ in range(min(n, len(pool.archs))):
            gain = hv_improvement(front, optimistic, reference, self.rng)
            score = np.where(available, gain, -np.inf)
            if score.max() <= 0:
                score = np.where(available, spread, -np.inf)
            i = int(np.argmax(score))
            available[i] = False
            picks.append(i)
            row = post.believed(i)
            front = np.vstack([front, row[None, :]]) if len(front) else row[None, :]
            front = front[pareto_mask(front)]
        return picks

    def explore(self, n: int, taken: list[int], post: Posterior) -> list[int]:
        """The most uncertain candidates among those whose optimistic value would extend
        the front (believed picks included)."""
        optimistic = post.optimistic(self.kappa)
        rows = [post.believed(i) for i in taken]
        front = np.vstack([post.observed, *rows]) if rows else post.observed
        front = front[pareto_mask(front)] if len(front) else front
        gain = hv_improvement(front, optimistic, post.reference, self.rng)
        sd = post.sd
        spread = sd.sum(axis=1) if sd.size else self.rng.random(len(post.pool.archs))
        score = np.where(gain > 0, spread, -1.0)
        score[taken] = -np.inf
        order = np.argsort(-score, kind="stable")
        return [int(i) for i in order[:n] if np.isfinite(score[i])]
