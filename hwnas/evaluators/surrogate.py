"""The ``surrogate`` evaluator: an accuracy predictor fitted on what was evaluated so far.

Feed it the accuracies another evaluator measured (:meth:`SurrogateEvaluator.observe`),
:meth:`~SurrogateEvaluator.fit` it, and it predicts the accuracy of any architecture of the
space in microseconds, with an uncertainty (``accuracy_std``). Features are the one-hot
expansion of the space's integer encoding. Models (scikit-learn):

* ``gp``: a Gaussian process (constant x isotropic Matern-5/2 kernel plus white noise,
  normalised targets, length scale of at least 0.5); ``accuracy_std`` is its predictive
  standard deviation.
* ``rf``: a random forest of 200 trees; ``accuracy_std`` is the spread of the trees.
* ``gbr``: five gradient-boosted ensembles on different 80 % subsamples; the prediction is
  their mean and ``accuracy_std`` their spread.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hwnas import __version__
from hwnas.errors import ConfigError, HwnasError
from hwnas.evaluators.base import EvalResult, Evaluator, register_evaluator
from hwnas.spaces import Arch, SearchSpace, create_space

__all__ = ["SURROGATE_MODELS", "SurrogateEvaluator"]

#: The predictor families :class:`SurrogateEvaluator` accepts.
SURROGATE_MODELS = ("gp", "rf", "gbr")

_GBR_MEMBERS = 5


@register_evaluator("surrogate")
class SurrogateEvaluator(Evaluator):
    """Predicted accuracy from a model fitted on observed (architecture, accuracy) pairs.

    Args:
        space: The search space (a name or a :class:`SearchSpace`).
        model: ``gp``, ``rf`` or ``gbr``.
        seed: Seeds the model's randomness (optimizer restarts, bootstrap, subsampling).

    Raises:
        ConfigError: Unknown space or model, or an invalid seed.
    """

    name = "surrogate"

    def __init__(self, space: str | SearchSpace, model: str = "gp", seed: int = 0) -> None:
        self.space = create_space(space) if isinstance(space, str) else space
        if not isinstance(self.space, SearchSpace):
            raise ConfigError("space", "a space name or a SearchSpace", space)
        if model not in SURROGATE_MODELS:
            raise ConfigError("model", f"one of {', '.join(SURROGATE_MODELS)}", model)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise ConfigError("seed", "an integer in 0..2**32-1", seed)
        self.model = model
        self.seed = seed
        self._offsets = np.concatenate([[0], np.cumsum(self.space.n_choices)[:-1]]).astype(int)
        self._n_features = int(sum(self.space.n_choices))
        self._observations: list[tuple[Arch, float]] = []
        self._fitted: list[Any] | None = None
        self._fitted_hash: str | None = None
        self._fitted_count = 0

    # -- observations -------------------------------------------------------------------
    @property
    def n_observations(self) -> int:
        """The number of (architecture, accuracy) pairs observed so far."""
        return len(self._observations)

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has been called (predictions use the data of that call)."""
        return self._fitted is not None

    def observe(self, arch: Arch, accuracy: float) -> None:
        """Record the measured ``accuracy`` (a fraction in [0, 1]) of ``arch``.

        The model is not refitted: call :meth:`fit` when the observations are in.
        Observing an architecture twice keeps both values (the models average them).

        Raises:
            ArchError: ``arch`` belongs to another space.
            ConfigError: ``accuracy`` is not a finite fraction.
        """
        self._encode(arch)  # validates
        ok = isinstance(accuracy, int | float | np.floating) and not isinstance(accuracy, bool)
        if not ok or not math.isfinite(float(accuracy)) or not 0.0 <= float(accuracy) <= 1.0:
            raise ConfigError("accuracy", "a fraction in [0, 1]", accuracy)
        self._observations.append((arch, float(accuracy)))

    def observe_many(self, archs: Iterable[Arch], accuracies: Iterable[float]) -> None:
        """:meth:`observe` each architecture with its accuracy (two sequences of one length)."""
        archs = list(archs)
        accuracies = list(accuracies)
        if len(archs) != len(accuracies):
            raise ConfigError(
                "accuracies", f"one value per architecture ({len(archs)})", len(accuracies)
            )
        for arch, accuracy in zip(archs, accuracies, strict=True):
            self.observe(arch, accuracy)

    # -- the model ----------------------------------------------------------------------
    def fit(self) -> SurrogateEvaluator:
        """Fit the model on every observation so far (in a canonical order); returns self.

        Raises:
            HwnasError: Fewer than 2 observations.
        """
        if len(self._observations) < 2:
            raise HwnasError(
                f"surrogate: fit needs at least 2 observations, got {len(self._observations)}"
                " (call observe() with measured accuracies first)"
            )
        # A canonical order: the same observations in any order give the same model and key.
        pairs = sorted(
            ((self._encode(arch), str(arch), acc) for arch, acc in self._observations),
            key=lambda t: (t[0], t[2]),
        )
        x = self._one_hot([p[0] for p in pairs])
        y = np.array([p[2] for p in pairs])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn convergence warnings on tiny data
            self._fitted = self._fit_models(x, y)
        payload = json.dumps([[s, acc] for _, s, acc in pairs])
        self._fitted_hash = hashlib.sha256(payload.encode()).hexdigest()
        self._fitted_count = len(pairs)
        return self

    def predict(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracies (clipped to [0, 1]) and their standard deviations.

        Raises:
            HwnasError: The model is not fitted.
            ArchError: An architecture belongs to another space.
        """
        if self._fitted is None:
            raise HwnasError(
                f"surrogate: not fitted ({len(self._observations)} observation(s)); "
                "call fit() after observing at least 2 accuracies"
            )
        x = self._one_hot([self._encode(a) for a in archs])
        if self.model == "gp":
            mean, std = self._fitted[0].predict(x, return_std=True)
        elif self.model == "rf":
            per_tree = np.stack([tree.predict(x) for tree in self._fitted[0].estimators_])
            mean, std = per_tree.mean(0), per_tree.std(0)
        else:
            per_member = np.stack([member.predict(x) for member in self._fitted])
            mean, std = per_member.mean(0), per_member.std(0)
        return np.clip(np.asarray(mean, dtype=float), 0.0, 1.0), np.asarray(std, dtype=float)

    def evaluate(self, arch: Arch) -> EvalResult:
        """The predicted ``accuracy`` of ``arch`` and its ``accuracy_std``.

        Raises:
            HwnasError: The model is not fitted.
        """
        started = time.perf_counter()
        mean, std = self.predict([arch])
        return EvalResult(
            metrics={"accuracy": float(mean[0]), "accuracy_std": float(std[0])},
            cost_seconds=time.perf_counter() - started,
            info={"model": self.model, "n_observations": self._fitted_count},
        )

    def cache_key(self) -> dict[str, Any]:
        """Space, model, seed, and a hash of the observations of the last :meth:`fit`."""
        import sklearn

        return {
            "space": self.space.fingerprint(),
            "model": self.model,
            "seed": self.seed,
            "observations": self._fitted_hash,
            "n_observations": self._fitted_count,
            "hwnas": __version__,
            "sklearn": sklearn.__version__,
        }

    # -- helpers ------------------------------------------------------------------------
    def _encode(self, arch: Arch) -> tuple[int, ...]:
        self.check_arch(arch)
        return self.space.encode(arch)

    def _one_hot(self, encodings: Sequence[Sequence[int]]) -> np.ndarray:
        x = np.zeros((len(encodings), self._n_features))
        if encodings:
            columns = self._offsets[None, :] + np.asarray(encodings, dtype=int)
            np.put_along_axis(x, columns, 1.0, axis=1)
        return x

    def _fit_models(self, x: np.ndarray, y: np.ndarray) -> list[Any]:
        if self.model == "gp":
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

            # Distinct one-hot points are at least sqrt(2) apart: a length scale below 0.5
            # only fits noise (every point uncorrelated), which the bounds rule out.
            scale = math.sqrt(self.space.n_dims)
            kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
                length_scale=scale, length_scale_bounds=(0.5, 1e2), nu=2.5
            ) + WhiteKernel(1e-1, (1e-4, 1.0))
            gp = GaussianProcessRegressor(
                kernel=kernel, normalize_y=True, n_restarts_optimizer=2, random_state=self.seed
            )
            return [gp.fit(x, y)]
        if self.model == "rf":
            from sklearn.ensemble import RandomForestRegressor

            forest = RandomForestRegressor(n_estimators=200, random_state=self.seed, n_jobs=1)
            return [forest.fit(x, y)]
        from sklearn.ensemble import GradientBoostingRegressor

        members = []
        for i in range(_GBR_MEMBERS):
            member = GradientBoostingRegressor(
                n_estimators=100,
                max_depth=3,
                learning_rate=0.1,
                subsample=0.8,
                random_state=(self.seed + i) % 2**32,
            )
            members.append(member.fit(x, y))
        return members
