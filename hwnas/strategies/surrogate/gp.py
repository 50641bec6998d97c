"""A Gaussian process on categorical encodings: the surrogate model of ``surrogate-ehvi``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


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

    def state_dict(self) -> dict[str, Any]:
        """The fitted hyperparameters (JSON-able): they warm-start the next fit."""
        return {"n_continuous": self.n_continuous, "theta": self.theta.tolist()}

    @classmethod
    def from_state(cls, n_choices: Sequence[int], state: Any) -> CategoricalGP:
        """A model with the hyperparameters of :meth:`state_dict` (refitted on its next
        :meth:`fit`, as the model that saved them would be).

        Raises:
            ValueError: ``state`` is not such a state for ``n_choices``.
        """
        try:
            model = cls(n_choices, int(state["n_continuous"]))
            theta = np.asarray(state["theta"], dtype=float)
        except (TypeError, KeyError, ValueError) as error:
            raise ValueError(f"not a CategoricalGP state ({error})") from None
        if theta.shape != model.theta.shape or not np.isfinite(theta).all():
            raise ValueError(f"theta of shape {model.theta.shape} expected")
        model.theta = theta
        return model

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
