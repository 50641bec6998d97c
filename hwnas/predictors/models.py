"""The regression models behind :class:`~hwnas.predictors.LatencyPredictor`, and their
safe serialisation.

=============  ===============================================================  ===========
name           model                                                            stored as
=============  ===============================================================  ===========
linear-macs    ``latency = a + b * MACs`` (least squares, in ms): the baseline  JSON
lut            ``latency = c + sum of non-negative per-feature costs`` (one-hot  JSON
               choices, MACs, params, per-operator-kind counts), fitted by
               non-negative least squares on the relative error: a lookup
               table of per-operation latencies learned from the profile
gbr            gradient-boosted trees on log-latency                            skops
rf             random forest on log-latency                                     skops
mlp            2x64 MLP on standardised features and log-latency               skops
gp             Gaussian process (linear + RBF + noise kernel) on log-latency    skops
=============  ===============================================================  ===========

scikit-learn models are stored as `skops <https://skops.readthedocs.io>`_ bytes, never as
pickle. Loading checks every type named anywhere in the payload against
:data:`ALLOWED_TYPES` (and every node kind against :data:`ALLOWED_NODES`) *before*
deserialising, then passes exactly the non-default types skops reports as ``trusted``.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
import io
import json
import warnings
import zipfile
from typing import Any, ClassVar

import numpy as np

from hwnas.errors import HwnasError

#: The model names a :class:`LatencyPredictor` accepts (``auto`` chooses by CV).
MODEL_NAMES: tuple[str, ...] = ("auto", "linear-macs", "lut", "gbr", "rf", "mlp", "gp")
#: The models ``auto`` compares.
LEARNED_MODELS: tuple[str, ...] = ("lut", "gbr", "rf", "mlp", "gp")
#: ``auto`` leaves out ``gp`` (cubic in the number of records) above this many records.
GP_AUTO_MAX_RECORDS = 500
#: Predictions are clipped below at this latency (ms): a linear model can go negative.
MIN_LATENCY_MS = 1e-6

#: Every type a stored scikit-learn model may contain (``module.qualname``).
ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.NoneType",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float64",
        "numpy.float32",
        "numpy.int64",
        "numpy.int32",
        "numpy.intp",
        "numpy.random.mtrand.RandomState",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn.compose._target.TransformedTargetRegressor",
        "sklearn.dummy.DummyRegressor",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.gaussian_process._gpr.GaussianProcessRegressor",
        "sklearn.gaussian_process.kernels.ConstantKernel",
        "sklearn.gaussian_process.kernels.DotProduct",
        "sklearn.gaussian_process.kernels.Product",
        "sklearn.gaussian_process.kernels.RBF",
        "sklearn.gaussian_process.kernels.Sum",
        "sklearn.gaussian_process.kernels.WhiteKernel",
        "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
    }
)
#: The skops node kinds a stored model may use (no functions, methods or reduce calls).
ALLOWED_NODES: frozenset[str] = frozenset(
    {
        "DictNode",
        "DTypeNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomStateNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
    }
)


def check_model_name(name: object, *, allow_auto: bool = True) -> str:
    """``name`` if it is a known model name, else :class:`HwnasError` listing them."""
    names = MODEL_NAMES if allow_auto else MODEL_NAMES[1:]
    if name not in names:
        raise HwnasError(f"model: expected one of {', '.join(names)}, got {name!r}")
    return str(name)


class LatencyModel(abc.ABC):
    """A regression model from a feature matrix to latency in ms."""

    name: ClassVar[str]

    @abc.abstractmethod
    def fit(
        self, X: np.ndarray, y_ms: np.ndarray, columns: list[str], additive: np.ndarray
    ) -> None:
        """Fit on features ``X`` (n, p) with column names and additivity mask."""

    @abc.abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Latencies in ms, clipped below at :data:`MIN_LATENCY_MS`."""

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The fitted model as a JSON object (``{"name": ..., "encoding": ...}``)."""

    @classmethod
    @abc.abstractmethod
    def from_json(
        cls, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> LatencyModel:
        """Rebuild a fitted model from :meth:`to_json`; ``where`` names it in errors."""


def _number(data: dict[str, Any], key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise HwnasError(f"{where}.{key}: expected a finite number, got {value!r}")
    return float(value)


class LinearMacsModel(LatencyModel):
    """``latency_ms = intercept + slope * MACs / 1e6``, by least squares."""

    name = "linear-macs"

    def __init__(self) -> None:
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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "encoding": "json",
            "intercept_ms": self.intercept_ms,
            "ms_per_mmac": self.ms_per_mmac,
        }

    @classmethod
    def from_json(
        cls, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> LinearMacsModel:
        model = cls()
        model._col = cls._macs_column(columns)
        model.intercept_ms = _number(data, "intercept_ms", where)
        model.ms_per_mmac = _number(data, "ms_per_mmac", where)
        return model


class LutModel(LatencyModel):
    """``latency_ms = intercept + sum_j cost_j * x_j`` over the additive columns, costs >= 0.

    With one-hot features this is a lookup table of the latency of each choice of each
    gene (``costs_ms``); with ``ops`` features, a cost per operator, per multiply-accumulate
    and per element of each operator kind. Fitted to whole-network measurements by
    non-negative least squares on the relative error.
    """

    name = "lut"

    def __init__(self) -> None:
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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "encoding": "json",
            "intercept_ms": self.intercept_ms,
            "costs_ms": {k: v for k, v in self.costs_ms.items() if v != 0.0},
        }

    @classmethod
    def from_json(
        cls, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> LutModel:
        model = cls()
        model.intercept_ms = _number(data, "intercept_ms", where)
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
        model.costs_ms = {k: float(v) for k, v in costs.items()}
        model._set(columns)
        return model


def _make_estimator(name: str, seed: int) -> Any:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "gbr":
        return GradientBoostingRegressor(
            n_estimators=300, max_depth=3, learning_rate=0.1, subsample=0.8, random_state=seed
        )
    if name == "rf":
        return RandomForestRegressor(
            n_estimators=100, max_features=0.5, min_samples_leaf=2, random_state=seed
        )
    if name == "mlp":
        from sklearn.neural_network import MLPRegressor

        inner: Any = MLPRegressor(
            hidden_layer_sizes=(64, 64), alpha=1e-3, max_iter=2000, random_state=seed
        )
    elif name == "gp":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel

        kernel = DotProduct(1.0) + ConstantKernel(1.0) * RBF(5.0) + WhiteKernel(1e-2)
        inner = GaussianProcessRegressor(kernel=kernel, random_state=seed)
    else:  # pragma: no cover - guarded by check_model_name
        raise HwnasError(f"model: no scikit-learn estimator named {name!r}")
    return TransformedTargetRegressor(
        regressor=Pipeline([("scale", StandardScaler()), (name, inner)]),
        transformer=StandardScaler(),
    )


#: The top-level class each scikit-learn model must deserialise to.
_EXPECTED_CLASS = {
    "gbr": "sklearn.ensemble._gb.GradientBoostingRegressor",
    "rf": "sklearn.ensemble._forest.RandomForestRegressor",
    "mlp": "sklearn.compose._target.TransformedTargetRegressor",
    "gp": "sklearn.compose._target.TransformedTargetRegressor",
}


class SklearnModel(LatencyModel):
    """A scikit-learn regressor fitted on log-latency.

    Args:
        name: ``gbr``, ``rf``, ``mlp`` or ``gp``.
        seed: The estimator's ``random_state``.
    """

    name = "sklearn"

    def __init__(self, name: str, seed: int = 0) -> None:
        self.name = name  # type: ignore[misc]
        self.seed = seed
        self.estimator: Any = None

    def fit(
        self, X: np.ndarray, y_ms: np.ndarray, columns: list[str], additive: np.ndarray
    ) -> None:
        from sklearn.exceptions import ConvergenceWarning

        self.estimator = _make_estimator(self.name, self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator.fit(X, np.log(y_ms))

    def predict(self, X: np.ndarray) -> np.ndarray:
        log_y = np.asarray(self.estimator.predict(X), dtype=float)
        return np.maximum(np.exp(np.clip(log_y, -50.0, 50.0)), MIN_LATENCY_MS)

    def to_json(self) -> dict[str, Any]:
        import sklearn
        import skops
        import skops.io as sio

        raw = sio.dumps(self.estimator, compression=zipfile.ZIP_DEFLATED)
        return {
            "name": self.name,
            "encoding": "skops",
            "target": "log_ms",
            "sklearn_version": sklearn.__version__,
            "skops_version": skops.__version__,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "data": base64.b64encode(raw).decode("ascii"),
        }

    @classmethod
    def from_json(
        cls, data: dict[str, Any], columns: list[str], additive: np.ndarray, where: str
    ) -> SklearnModel:
        name = str(data.get("name"))
        if data.get("target", "log_ms") != "log_ms":
            raise HwnasError(f"{where}.target: expected 'log_ms', got {data.get('target')!r}")
        model = cls(name)
        model.estimator = load_skops(data, _EXPECTED_CLASS[name], where)
        n_in = getattr(model.estimator, "n_features_in_", None)
        if n_in != len(columns):
            raise HwnasError(
                f"{where}: expected a model of {len(columns)} features, got one of {n_in}"
            )
        return model


def _schema_types(raw: bytes, where: str) -> tuple[set[str], set[str]]:
    """All ``module.class`` names and node kinds in a skops payload's schema."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise HwnasError(f"{where}.data: expected a skops archive ({error})") from None
    types: set[str] = set()
    nodes: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node:
                types.add(f"{node.get('__module__')}.{node.get('__class__')}")
            if "__loader__" in node:
                nodes.add(str(node["__loader__"]))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return types, nodes


def load_skops(data: dict[str, Any], expected_class: str, where: str) -> Any:
    """Deserialise the skops payload of a model entry, after checking it against the allowlist.

    Args:
        data: ``{"data": base64, "sha256": hex, ...}``.
        expected_class: ``module.qualname`` the top-level object must have.
        where: The entry's place in the file, for messages.

    Raises:
        HwnasError: Bad base64, a checksum mismatch, a payload that is not a skops archive,
            any type or node kind outside the allowlist, or an unexpected top-level class.
    """
    import skops.io as sio

    text = data.get("data")
    if not isinstance(text, str):
        raise HwnasError(f"{where}.data: expected base64 text, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise HwnasError(f"{where}.data: expected base64 text") from None
    digest = data.get("sha256")
    if digest != hashlib.sha256(raw).hexdigest():
        raise HwnasError(
            f"{where}.sha256: the model bytes do not match their checksum (file corrupted "
            "or edited)"
        )
    types, nodes = _schema_types(raw, where)
    bad = sorted(types - ALLOWED_TYPES)
    if bad:
        raise HwnasError(f"{where}: refusing to load types outside the allowlist: {bad}")
    bad = sorted(nodes - ALLOWED_NODES)
    if bad:
        raise HwnasError(f"{where}: refusing to load skops node kinds {bad}")
    try:
        untrusted = sio.get_untrusted_types(data=raw)
    except Exception as error:  # skops raises assorted errors on malformed input
        raise HwnasError(f"{where}.data: unreadable skops payload ({error})") from None
    bad = sorted(set(untrusted) - ALLOWED_TYPES)
    if bad:
        raise HwnasError(f"{where}: refusing to load types outside the allowlist: {bad}")
    try:
        obj = sio.loads(raw, trusted=list(untrusted))
    except Exception as error:
        raise HwnasError(f"{where}.data: could not load the skops payload ({error})") from None
    got = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if got != expected_class:
        raise HwnasError(f"{where}: expected a {expected_class}, got a {got}")
    return obj


def create_model(name: str, seed: int = 0) -> LatencyModel:
    """An unfitted model by name (not ``auto``)."""
    name = check_model_name(name, allow_auto=False)
    if name == "linear-macs":
        return LinearMacsModel()
    if name == "lut":
        return LutModel()
    return SklearnModel(name, seed)


def model_from_json(
    data: Any, columns: list[str], additive: np.ndarray, where: str = "model"
) -> LatencyModel:
    """Rebuild a fitted model from its JSON entry (see :meth:`LatencyModel.to_json`)."""
    if not isinstance(data, dict):
        raise HwnasError(f"{where}: expected a JSON object, got {type(data).__name__}")
    name = data.get("name")
    if name not in MODEL_NAMES[1:]:
        raise HwnasError(
            f"{where}.name: expected one of {', '.join(MODEL_NAMES[1:])}, got {name!r}"
        )
    encoding = "json" if name in ("linear-macs", "lut") else "skops"
    if data.get("encoding") != encoding:
        raise HwnasError(
            f"{where}.encoding: expected {encoding!r} for model {name}, "
            f"got {data.get('encoding')!r}"
        )
    if name == "linear-macs":
        return LinearMacsModel.from_json(data, columns, additive, where)
    if name == "lut":
        return LutModel.from_json(data, columns, additive, where)
    return SklearnModel.from_json(data, columns, additive, where)
