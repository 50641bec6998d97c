"""The regression models behind :class:`~hwnas.predictors.LatencyPredictor`, by name.

=============  ===============================================================  ===========
name           model                                                            stored as
=============  ===============================================================  ===========
linear-macs    ``latency = a + b * MACs`` (least squares, in ms): the baseline  JSON
lut            ``latency = c + sum of non-negative per-feature costs`` (one-hot  JSON
               choices, MACs, params, per-operator-kind counts), fitted by
               non-negative least squares on the relative error: a lookup
               table of per-operation latencies learned from the profile
lut-boost      ``lut`` times ``exp(r)``, ``r`` gradient-boosted trees fitted to  skops
               the log of measured over ``lut`` latency: the table carries the
               additive part (and extrapolates), the trees its interactions
               (``benchmarks/predictor_models.py``, the eight shipped profiles,
               two seeds: cross-validated mean absolute log error 0.84x that of
               ``lut`` on average, 0.98x at worst; chosen by ``auto`` on all)
gbr            gradient-boosted trees on log-latency                            skops
rf             random forest on log-latency                                     skops
mlp            2x64 MLP on standardised features and log-latency               skops
gp             Gaussian process (linear + RBF + noise kernel) on log-latency    skops
=============  ===============================================================  ===========

Every model is registered in :data:`MODELS` under its name; :func:`create_model` builds
one and :func:`model_from_json` rebuilds a fitted one from its entry in a predictor file,
both through the registry, so an unknown name lists the known ones. A new model is a
:class:`LatencyModel` subclass decorated with :func:`register_model`. The scikit-learn
models share :class:`SklearnModel` and differ only by their row in :data:`ESTIMATORS`;
they are stored as allowlisted skops bytes (:mod:`hwnas.predictors.persistence`).
"""

from __future__ import annotations

import abc
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hwnas.errors import ConfigError, HwnasError
from hwnas.predictors.persistence import dump_skops, load_skops
from hwnas.registry import Registry

#: The models ``auto`` compares, in the order that breaks ties between equal CV scores.
LEARNED_MODELS: tuple[str, ...] = ("lut", "lut-boost", "gbr", "rf", "mlp", "gp")
#: ``auto`` leaves out ``gp`` (cubic in the number of records) above this many records.
GP_AUTO_MAX_RECORDS = 500
#: Predictions are clipped below at this latency (ms): a linear model can go negative.
MIN_LATENCY_MS = 1e-6
#: The trees of ``lut-boost``: five settings (50-300 trees, depth 2-4) cross-validated on
#: the shipped CPU profiles came within 3 % of one another; this is the fastest of the best.
BOOST_PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "max_depth": 4,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "min_samples_leaf": 5,
}


class LatencyModel(abc.ABC):
    """A regression model from a feature matrix to latency in ms.

    Subclasses implement :meth:`fit`, :meth:`predict` and the two hooks that write and read
    their fitted state; :meth:`to_json` and :func:`model_from_json` add the name and the
    encoding around it.

    Args:
        seed: Random seed of a model that draws random numbers; the deterministic models
            ignore it.
    """

    #: The registered name (set by each subclass, or by the constructor of a shared class).
    name: str
    #: How the fitted state is stored: ``json`` (plain numbers) or ``skops``.
    encoding: ClassVar[str] = "json"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @abc.abstractmethod
    def fit(
        self, X: np.ndarray, y_ms: np.ndarray, columns: list[str], additive: np.ndarray
    ) -> None:
        """Fit on features ``X`` (n, p) with column names and additivity mask."""

    @abc.abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Latencies in ms, clipped below at :data:`MIN_LATENCY_MS`."""

    def to_json(self) -> dict[str, Any]:
        """The fitted model as a JSON object (``{"name": ..., "encoding": ..., ...}``)."""
        return {"name": self.name, "encoding": self.encoding, **self._state_to_json()}

    @abc.abstractmethod
    def _state_to_json(self) -> dict[str, Any]:
        """The fitted state as JSON fields (besides ``name`` and ``encoding``)."""

    @abc.abstractmethod
    def _state_from_json(
        self, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> None:
        """Set the fitted state from :meth:`_state_to_json`'s fields, validating them;
        ``where`` names the entry in errors."""


#: Model name -> factory taking ``seed``.
MODELS: Registry[LatencyModel] = Registry("model")


def register_model(
    name: str,
) -> Callable[[Callable[..., LatencyModel]], Callable[..., LatencyModel]]:
    """Decorator registering a :class:`LatencyModel` factory (taking ``seed``) as ``name``."""
    return MODELS.register(name)


def _number(data: dict[str, Any], key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise HwnasError(f"{where}.{key}: expected a finite number, got {value!r}")
    return float(value)


@register_model("linear-macs")
class LinearMacsModel(LatencyModel):
    """``latency_ms = intercept + slope * MACs / 1e6``, by least squares."""

    name = "linear-macs"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.intercept_ms = 0.0
        self.ms_per_mmac = 0.0
        self._col = -1

    @staticmethod
    def _macs_column(columns: list[str]) -> int:
        if "macs_m" not in columns:
            raise HwnasError(
                "model linear-macs: expected a 'macs_m' feature column (the 'costs' feature "
                f"block), got columns {columns[:8]}..."
            )
        return columns.index("macs_m")

    def fit(
        self, X: np.ndarray, y_ms: np.ndarray, columns: list[str], additive: np.ndarray
    ) -> None:
        self._col = self._macs_column(columns)
        A = np.column_stack([np.ones(len(X)), X[:, self._col]])
        coef = np.linalg.lstsq(A, y_ms, rcond=None)[0]
        self.intercept_ms, self.ms_per_mmac = float(coef[0]), float(coef[1])

    def predict(self, X: np.ndarray) -> np.ndarray:
        y = self.intercept_ms + self.ms_per_mmac * X[:, self._col]
        return np.maximum(y, MIN_LATENCY_MS)

    def _state_to_json(self) -> dict[str, Any]:
        return {"intercept_ms": self.intercept_ms, "ms_per_mmac": self.ms_per_mmac}

    def _state_from_json(
        self, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> None:
        self._col = self._macs_column(columns)
        self.intercept_ms = _number(data, "intercept_ms", where)
        self.ms_per_mmac = _number(data, "ms_per_mmac", where)


@register_model("lut")
class LutModel(LatencyModel):
    """``latency_ms = intercept + sum_j cost_j * x_j`` over the additive columns, costs >= 0.

    With one-hot features this is a lookup table of the latency of each choice of each
    gene (``costs_ms``); with ``ops`` features, a cost per operator, per multiply-accumulate
    and per element of each operator kind. Fitted to whole-network measurements by
    non-negative least squares on the relative error.
    """

    name = "lut"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.intercept_ms = 0.0
        self.costs_ms: dict[str, float] = {}
        self._index = np.zeros(0, dtype=np.int64)
        self._coef = np.zeros(0)

    def fit(
        self, X: np.ndarray, y_ms: np.ndarray, columns: list[str], additive: np.ndarray
    ) -> None:
        from scipy.optimize import nnls

        index = np.flatnonzero(additive)
        A = np.column_stack([np.ones(len(X)), X[:, index]])
        scale = np.abs(A).max(axis=0)
        scale[scale == 0] = 1.0
        # Relative least squares: each measurement counts by its error in percent, so the
        # many fast architectures are fitted as well as the few slow ones.
        weight = 1.0 / np.maximum(y_ms, MIN_LATENCY_MS)
        coef, _ = nnls(A / scale * weight[:, None], y_ms * weight, maxiter=50 * A.shape[1])
        coef = coef / scale
        self.intercept_ms = float(coef[0])
        self.costs_ms = {columns[i]: float(c) for i, c in zip(index, coef[1:], strict=True)}
        self._set(columns)

    def _set(self, columns: list[str]) -> None:
        kept = [(columns.index(k), v) for k, v in self.costs_ms.items() if v != 0.0]
        self._index = np.array([i for i, _ in kept], dtype=np.int64)
        self._coef = np.array([v for _, v in kept])

    def predict(self, X: np.ndarray) -> np.ndarray:
        y = self.intercept_ms + X[:, self._index] @ self._coef
        return np.maximum(y, MIN_LATENCY_MS)

    def _state_to_json(self) -> dict[str, Any]:
        return {
            "intercept_ms": self.intercept_ms,
            "costs_ms": {k: v for k, v in self.costs_ms.items() if v != 0.0},
        }

    def _state_from_json(
        self, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> None:
        self.intercept_ms = _number(data, "intercept_ms", where)
        costs = data.get("costs_ms")
        if not isinstance(costs, dict):
            raise HwnasError(f"{where}.costs_ms: expected an object column -> ms, got {costs!r}")
        for key in costs:
            if key not in columns:
                raise HwnasError(
                    f"{where}.costs_ms: expected feature columns of this predictor, got {key!r}"
                )
            value = _number(costs, key, f"{where}.costs_ms")
            if value < 0:
                raise HwnasError(f"{where}.costs_ms.{key}: expected a cost >= 0, got {value}")
        self.costs_ms = {k: float(v) for k, v in costs.items()}
        self._set(columns)


@register_model("lut-boost")
class LutBoostModel(LatencyModel):
    """``latency_ms = lut(x) * exp(trees(x))``: a :class:`LutModel` and gradient-boosted
    trees fitted to the log of measured over table latency.

    The table is additive: it extrapolates to networks unlike those profiled and keeps the
    order of costs, but misses how operations interact (a wider convolution after a
    narrower one costs more than the sum of their entries). The trees learn that correction
    as a factor; small (:data:`BOOST_PARAMS`), so that a profile without interactions gets
    a factor near 1.
    """

    name = "lut-boost"
    encoding: ClassVar[str] = "skops"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.lut = LutModel(seed)
        self.trees: Any = None

    def fit(
        self, X: np.ndarray, y_ms: np.ndarray, columns: list[str], additive: np.ndarray
    ) -> None:
        from sklearn.ensemble import GradientBoostingRegressor

        self.lut.fit(X, y_ms, columns, additive)
        ratio = np.log(np.maximum(y_ms, MIN_LATENCY_MS) / self.lut.predict(X))
        self.trees = GradientBoostingRegressor(random_state=self.seed, **BOOST_PARAMS)
        self.trees.fit(X, ratio)

    def predict(self, X: np.ndarray) -> np.ndarray:
        log_factor = np.clip(np.asarray(self.trees.predict(X), dtype=float), -50.0, 50.0)
        return np.maximum(self.lut.predict(X) * np.exp(log_factor), MIN_LATENCY_MS)

    def _state_to_json(self) -> dict[str, Any]:
        return {"lut": self.lut._state_to_json(), "target": "log_ratio", **dump_skops(self.trees)}

    def _state_from_json(
        self, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> None:
        if data.get("target") != "log_ratio":
            raise HwnasError(f"{where}.target: expected 'log_ratio', got {data.get('target')!r}")
        table = data.get("lut")
        if not isinstance(table, dict):
            raise HwnasError(f"{where}.lut: expected an object, got {type(table).__name__}")
        self.lut._state_from_json(table, columns, additive, f"{where}.lut")
        self.trees = _load_estimator(data, "gbr", columns, where)


def _standardised(name: str, inner: Any) -> Any:
    """``inner`` on standardised features, predicting a standardised target."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return TransformedTargetRegressor(
        regressor=Pipeline([("scale", StandardScaler()), (name, inner)]),
        transformer=StandardScaler(),
    )


def _gbr(seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(
        n_estimators=300, max_depth=3, learning_rate=0.1, subsample=0.8, random_state=seed
    )


def _rf(seed: int) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(
        n_estimators=100, max_features=0.5, min_samples_leaf=2, random_state=seed
    )


def _mlp(seed: int) -> Any:
    from sklearn.neural_network import MLPRegressor

    inner = MLPRegressor(hidden_layer_sizes=(64, 64), alpha=1e-3, max_iter=2000, random_state=seed)
    return _standardised("mlp", inner)


def _gp(seed: int) -> Any:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel

    kernel = DotProduct(1.0) + ConstantKernel(1.0) * RBF(5.0) + WhiteKernel(1e-2)
    return _standardised("gp", GaussianProcessRegressor(kernel=kernel, random_state=seed))


@dataclass(frozen=True)
class Estimator:
    """One scikit-learn model: how to build it and what a stored one must load as.

    Attributes:
        make: ``seed`` -> an unfitted estimator.
        stored_class: ``module.qualname`` of the top-level object of a stored model.
    """

    make: Callable[[int], Any]
    stored_class: str


_TARGET = "sklearn.compose._target.TransformedTargetRegressor"
#: The scikit-learn models by name.
ESTIMATORS: dict[str, Estimator] = {
    "gbr": Estimator(_gbr, "sklearn.ensemble._gb.GradientBoostingRegressor"),
    "rf": Estimator(_rf, "sklearn.ensemble._forest.RandomForestRegressor"),
    "mlp": Estimator(_mlp, _TARGET),
    "gp": Estimator(_gp, _TARGET),
}


class SklearnModel(LatencyModel):
    """A scikit-learn regressor fitted on log-latency.

    Args:
        name: A key of :data:`ESTIMATORS` (``gbr``, ``rf``, ``mlp`` or ``gp``).
        seed: The estimator's ``random_state``.
    """

    encoding = "skops"

    def __init__(self, name: str, seed: int = 0) -> None:
        if name not in ESTIMATORS:
            raise ConfigError("model", f"one of {', '.join(sorted(ESTIMATORS))}", name)
        super().__init__(seed)
        self.name = name
        self.estimator: Any = None

    def fit(
        self, X: np.ndarray, y_ms: np.ndarray, columns: list[str], additive: np.ndarray
    ) -> None:
        from sklearn.exceptions import ConvergenceWarning

        self.estimator = ESTIMATORS[self.name].make(self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator.fit(X, np.log(y_ms))

    def predict(self, X: np.ndarray) -> np.ndarray:
        log_y = np.asarray(self.estimator.predict(X), dtype=float)
        return np.maximum(np.exp(np.clip(log_y, -50.0, 50.0)), MIN_LATENCY_MS)

    def _state_to_json(self) -> dict[str, Any]:
        return {"target": "log_ms", **dump_skops(self.estimator)}

    def _state_from_json(
        self, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> None:
        if data.get("target", "log_ms") != "log_ms":
            raise HwnasError(f"{where}.target: expected 'log_ms', got {data.get('target')!r}")
        self.estimator = _load_estimator(data, self.name, columns, where)


def _load_estimator(data: dict[str, Any], name: str, columns: list[str], where: str) -> Any:
    """The stored scikit-learn estimator of kind ``name`` (a key of :data:`ESTIMATORS`),
    checked against the allowlist and against the predictor's number of features."""
    estimator = load_skops(data, ESTIMATORS[name].stored_class, where)
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in != len(columns):
        raise HwnasError(f"{where}: expected a model of {len(columns)} features, got one of {n_in}")
    return estimator


for _name in ESTIMATORS:
    register_model(_name)(functools.partial(SklearnModel, _name))

#: The model names a :class:`LatencyPredictor` accepts (``auto`` chooses by CV).
MODEL_NAMES: tuple[str, ...] = ("auto", *MODELS.names())


def list_models() -> list[str]:
    """The names of the registered models (without ``auto``)."""
    return MODELS.names()


def check_model_name(name: object, *, allow_auto: bool = True) -> str:
    """``name`` if it names a registered model (or is ``auto``), else :class:`ConfigError`
    listing them."""
    names = ["auto", *MODELS.names()] if allow_auto else MODELS.names()
    if not isinstance(name, str) or name not in names:
        raise ConfigError("model", f"one of {', '.join(names)}", name)
    return name


def create_model(name: str, seed: int = 0) -> LatencyModel:
    """An unfitted model by registered name (not ``auto``).

    Raises:
        ConfigError: An unknown name (the message lists the known ones).
    """
    return MODELS.create(name, seed=seed)


def model_from_json(
    data: Any, columns: list[str], additive: np.ndarray, where: str = "model"
) -> LatencyModel:
    """Rebuild a fitted model from its JSON entry (see :meth:`LatencyModel.to_json`).

    Args:
        data: The entry.
        columns: The predictor's feature columns; ``additive`` their additivity mask.
        where: The entry's place in the file, for messages.

    Raises:
        HwnasError: Not an object, an unknown model name, the wrong encoding for the model,
            or a malformed or unsafe fitted state.
    """
    if not isinstance(data, dict):
        raise HwnasError(f"{where}: expected a JSON object, got {type(data).__name__}")
    name = data.get("name")
    if not isinstance(name, str) or name not in MODELS:
        raise ConfigError(f"{where}.name", f"one of {', '.join(MODELS.names())}", name)
    model = create_model(name)
    if data.get("encoding") != model.encoding:
        raise HwnasError(
            f"{where}.encoding: expected {model.encoding!r} for model {name}, "
            f"got {data.get('encoding')!r}"
        )
    model._state_from_json(data, columns, additive, where)
    return model
