"""Few-shot transfer: a latency predictor for a new device from predictors of other devices
and a handful (5-50) of measurements on the new one.

The target latency is modelled from the source predictors' predictions ``p_s(a)`` and the
architecture's MACs:

- ``nnls-macs`` (default): ``y = sum_s w_s p_s(a) + w_m MACs(a)``, all ``w >= 0``
  (non-negative least squares in ms; the MAC term lets a compute-bound target lean on the
  MAC count where no source resembles it);
- ``nnls``: the same without the MAC term;
- ``log-nnls``: ``log y = c + sum_s w_s log p_s(a)``, ``w >= 0`` (a power-law mixture);
- ``auto``: the one of the three with the smallest leave-one-out error on the K samples.

The leave-one-out RMS log error of every method is kept in ``loo_scores_`` either way.
Measured on NAS-Bench-201 (``benchmarks/predictors_nb201.py``) the fixed ``nnls-macs`` was
as good as or better than choosing by leave-one-out, which is noisy with 10 samples.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from hwnas.errors import HwnasError
from hwnas.predictors.base import (
    BasePredictor,
    check_profile_records,
    read_predictor_file,
    register_predictor,
)
from hwnas.predictors.features import CostsBlock, FeatureContext, as_archs
from hwnas.predictors.latency import LatencyPredictor
from hwnas.predictors.metrics import evaluate_predictions
from hwnas.predictors.models import MIN_LATENCY_MS
from hwnas.profiling.store import ProfileRecord, read_profile
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.validate import check_int

#: The combination methods (``auto`` picks one of the others by leave-one-out).
TRANSFER_METHODS: tuple[str, ...] = ("auto", "nnls-macs", "nnls", "log-nnls")


def _nnls(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares with column scaling (for conditioning)."""
    from scipy.optimize import nnls

    scale = np.abs(A).max(axis=0)
    scale[scale == 0] = 1.0
    w, _ = nnls(A / scale, y, maxiter=50 * max(A.shape[1], 1))
    return w / scale


def _fit_method(method: str, P: np.ndarray, macs: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Fit one method on source predictions ``P`` (K, S) ms, ``macs`` (K,) M, ``y`` (K,) ms."""
    n_sources = P.shape[1]
    if method in ("nnls", "nnls-macs"):
        A = np.column_stack([P, macs]) if method == "nnls-macs" else P
        w = _nnls(A, y)
        if not np.any(w > 0):  # degenerate: scale the mean of the sources
            w = np.zeros(A.shape[1])
            w[:n_sources] = np.mean(y) / max(float(np.mean(P)), MIN_LATENCY_MS) / n_sources
        return {
            "weights": w[:n_sources],
            "macs_weight": float(w[n_sources]) if method == "nnls-macs" else 0.0,
            "intercept": 0.0,
        }
    logs = np.log(P)
    log_y = np.log(y)
    mean = logs.mean(axis=0)
    w = _nnls(logs - mean, log_y - log_y.mean())
    if not np.any(w > 0):
        w = np.full(n_sources, 1.0 / n_sources)
    return {"weights": w, "macs_weight": 0.0, "intercept": float(log_y.mean() - mean @ w)}


def _apply(method: str, fit: dict[str, Any], P: np.ndarray, macs: np.ndarray) -> np.ndarray:
    if method == "log-nnls":
        y = np.exp(np.clip(fit["intercept"] + np.log(P) @ fit["weights"], -50.0, 50.0))
    else:
        y = P @ fit["weights"] + fit["macs_weight"] * macs
    return np.maximum(y, MIN_LATENCY_MS)


def _loo(method: str, P: np.ndarray, macs: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out root mean squared log error of ``method``."""
    errors = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        fit = _fit_method(method, P[keep], macs[keep], y[keep])
        pred = _apply(method, fit, P[i : i + 1], macs[i : i + 1])[0]
        errors.append(np.log(pred / y[i]) ** 2)
    return float(np.sqrt(np.mean(errors)))


@register_predictor
class TransferPredictor(BasePredictor):
    """A latency predictor for a target device from source predictors and K measurements.

    Args:
        method: ``nnls-macs`` (default), ``nnls``, ``log-nnls`` or ``auto`` (see the module
            documentation).

    Fitted attributes, besides those of :class:`~hwnas.predictors.base.BasePredictor`
    (which describe the target device):
        method_: The method used.
        sources_: The source :class:`LatencyPredictor` objects; ``source_ids_`` their
            device ids.
        weights_: ``{source device id: weight}`` (ms per predicted ms for the ``nnls``
            methods, an exponent for ``log-nnls``); 0 for a source it did not use.
        macs_weight_: ms per million MACs (``nnls-macs``; else 0).
        intercept_: The log-space intercept (``log-nnls``; else 0).
        shares_: ``{source device id or "macs": share}``: each term's share of the fitted
            latency on the K samples (exponent shares for ``log-nnls``); they sum to 1.
        loo_scores_: ``{method: leave-one-out RMS log error}`` on the K samples.
    """

    kind: ClassVar[str] = "transfer"

    method_: str
    sources_: list[LatencyPredictor]
    source_ids_: list[str]
    weights_: dict[str, float]
    macs_weight_: float
    intercept_: float
    shares_: dict[str, float]
    loo_scores_: dict[str, float]

    def __init__(self, method: str = "nnls-macs") -> None:
        self.method = method

    def get_params(self) -> dict[str, Any]:
        return {"method": self.method}

    # -- fitting -----------------------------------------------------------------------
    def _check_sources(self, sources: Sequence[LatencyPredictor], space: SearchSpace) -> None:
        if isinstance(sources, LatencyPredictor) or not isinstance(sources, Sequence):
            raise HwnasError("sources: expected a list of fitted LatencyPredictor objects")
        if not sources:
            raise HwnasError("sources: expected at least one source predictor, got none")
        seen: set[str] = set()
        for i, source in enumerate(sources):
            if not isinstance(source, LatencyPredictor):
                raise HwnasError(
                    f"sources[{i}]: expected a fitted LatencyPredictor, got {type(source).__name__}"
                )
            source._check_fitted()
            try:
                source.check_space(space)
            except HwnasError as error:
                raise HwnasError(f"sources[{i}] (device {source.device_id_}): {error}") from None
            if source.device_id_ in seen:
                raise HwnasError(
                    f"sources[{i}]: expected one predictor per device, got device "
                    f"{source.device_id_} twice"
                )
            seen.add(source.device_id_)

    def _source_matrix(self, archs: list[Arch], cache: dict[Any, np.ndarray]) -> np.ndarray:
        return np.column_stack([s._predict_archs(archs, cache) for s in self.sources_])

    def _macs(self, archs: list[Arch]) -> np.ndarray:
        context = FeatureContext(self.space(), self.input_shape_, self.num_classes_)
        encodings = np.zeros((len(archs), 0), dtype=np.int64)
        return CostsBlock().compute(context, archs, encodings)[:, 0]

    def fit(
        self,
        sources: Sequence[LatencyPredictor],
        records: Sequence[ProfileRecord],
        space: SearchSpace | None = None,
    ) -> TransferPredictor:
        """Fit on K (at least 3) measurements of the target device.

        Args:
            sources: Fitted predictors of other devices, in the same space.
            records: The target's profile records (one profile; typically 5-50).
            space: The space of the records (default: the registered one, checked).

        Returns:
            ``self``.

        Raises:
            HwnasError: Unknown method, fewer than 3 records, records that are not one
                profile, or a source of another space or a duplicated source device.
        """
        if self.method not in TRANSFER_METHODS:
            raise HwnasError(
                f"method: expected one of {', '.join(TRANSFER_METHODS)}, got {self.method!r}"
            )
        info = check_profile_records(records, space)
        if len(records) < 3:
            raise HwnasError(
                f"records: expected at least 3 target measurements, got {len(records)}"
            )
        self._check_sources(sources, info.space)
        self._set_profile_info(info, len(records))
        self.sources_ = list(sources)
        self.source_ids_ = [s.device_id_ for s in self.sources_]
        archs = as_archs(info.space, [r.arch for r in records])
        y = np.array([r.median_ms for r in records], dtype=float)
        P = self._source_matrix(archs, {})
        macs = self._macs(archs)
        self.loo_scores_ = {m: _loo(m, P, macs, y) for m in TRANSFER_METHODS[1:]}
        method = self.method
        if method == "auto":
            method = min(TRANSFER_METHODS[1:], key=lambda m: self.loo_scores_[m])
        fit = _fit_method(method, P, macs, y)
        self._set_fit(method, fit, P, macs)
        return self

    def _set_fit(
        self, method: str, fit: dict[str, Any], P: np.ndarray | None, macs: np.ndarray | None
    ) -> None:
        self.method_ = method
        weights = np.asarray(fit["weights"], dtype=float)
        self.weights_ = {d: float(w) for d, w in zip(self.source_ids_, weights, strict=True)}
        self.macs_weight_ = float(fit["macs_weight"])
        self.intercept_ = float(fit["intercept"])
        if P is not None and macs is not None:
            if method == "log-nnls":
                parts = {**self.weights_, "macs": 0.0}
            else:
                parts = {
                    d: w * float(np.mean(P[:, i])) for i, (d, w) in enumerate(self.weights_.items())
                }
                parts["macs"] = self.macs_weight_ * float(np.mean(macs))
            total = sum(parts.values())
            self.shares_ = {k: (v / total if total > 0 else 0.0) for k, v in parts.items()}

    # -- prediction ----------------------------------------------------------------------
    def combine(self, source_ms: np.ndarray, macs_m: np.ndarray) -> np.ndarray:
        """The target latency from precomputed source predictions.

        Args:
            source_ms: ``(n, len(sources_))`` predictions of the sources, in ``source_ids_``
                order (ms).
            macs_m: ``(n,)`` MACs / 1e6 at the target's input shape.
        """
        self._check_fitted()
        fit = {
            "weights": np.array([self.weights_[d] for d in self.source_ids_]),
            "macs_weight": self.macs_weight_,
            "intercept": self.intercept_,
        }
        P = np.maximum(np.asarray(source_ms, dtype=float), MIN_LATENCY_MS)
        return _apply(self.method_, fit, P.reshape(-1, len(self.source_ids_)), np.asarray(macs_m))

    def _predict_archs(self, archs: list[Arch], cache: dict[Any, np.ndarray]) -> np.ndarray:
        return self.combine(self._source_matrix(archs, cache), self._macs(archs))

    # -- persistence ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            **self._header(),
            "params": {"method": self.method},
            "method_used": self.method_,
            "weights": self.weights_,
            "macs_weight": self.macs_weight_,
            "intercept": self.intercept_,
            "shares": self.shares_,
            "loo_scores": self.loo_scores_,
            "sources": [s.to_json() for s in self.sources_],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "predictor") -> TransferPredictor:
        params = data.get("params")
        if not isinstance(params, dict) or params.get("method") not in TRANSFER_METHODS:
            raise HwnasError(
                f"{where}.params.method: expected one of {', '.join(TRANSFER_METHODS)}, "
                f"got {params!r}"
            )
        self = cls(method=params["method"])
        self._read_header(data, where)
        method = data.get("method_used")
        if method not in TRANSFER_METHODS[1:]:
            raise HwnasError(
                f"{where}.method_used: expected one of {', '.join(TRANSFER_METHODS[1:])}, "
                f"got {method!r}"
            )
        sources = data.get("sources")
        if not isinstance(sources, list) or not sources:
            raise HwnasError(f"{where}.sources: expected a non-empty list of predictors")
        loaded = []
        for i, item in enumerate(sources):
            if not isinstance(item, dict):
                raise HwnasError(f"{where}.sources[{i}]: expected a JSON object")
            loaded.append(LatencyPredictor.from_json(item, f"{where}.sources[{i}]"))
        self._check_sources(loaded, self.space())
        self.sources_ = loaded
        self.source_ids_ = [s.device_id_ for s in loaded]
        weights = data.get("weights")
        if not isinstance(weights, dict) or sorted(weights) != sorted(self.source_ids_):
            raise HwnasError(
                f"{where}.weights: expected one weight per source device {self.source_ids_}"
            )
        values = []
        for device in self.source_ids_:
            value = weights[device]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise HwnasError(f"{where}.weights.{device}: expected a number >= 0, got {value!r}")
            values.append(float(value))
        fit: dict[str, Any] = {"weights": np.array(values)}
        for key, name in (("macs_weight", "macs_weight"), ("intercept", "intercept")):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise HwnasError(f"{where}.{key}: expected a number, got {value!r}")
            fit[name] = float(value)
        self._set_fit(method, fit, None, None)
        shares = data.get("shares")
        self.shares_ = shares if isinstance(shares, dict) else {}
        loo = data.get("loo_scores")
        self.loo_scores_ = loo if isinstance(loo, dict) else {}
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TransferPredictor:
        """Load a transfer predictor written by :meth:`save` (checked; no pickle involved)."""
        return cls.from_json(read_predictor_file(path), f"predictor {path}")


def fit_transfer(
    path: str | os.PathLike[str],
    sources: Sequence[LatencyPredictor | str | os.PathLike[str]],
    *,
    samples: int,
    seed: int = 0,
    method: str = "nnls-macs",
    space: SearchSpace | None = None,
) -> tuple[TransferPredictor, dict[str, Any]]:
    """Fit a transfer predictor on ``samples`` random architectures of a target profile.

    Args:
        path: The target device's profile.
        sources: Source predictors, or paths of their files.
        samples: K, the number of target architectures used for fitting (at least 3).
        seed: Seed of the choice of the K architectures.
        method: See :class:`TransferPredictor`.
        space: The profile's space (default: the registered one, checked).

    Returns:
        ``(predictor, metrics)``: ``metrics`` has ``held_out`` (on every other record of
        the profile; ``None`` if there is none), ``baseline_linear_macs`` (a MAC-linear fit
        on the same K samples), ``samples``, ``n_train``, ``n_test``, ``seed``,
        ``method``, ``weights``, ``shares`` and ``loo_scores``. The predictor keeps them
        in ``metrics_``.
    """
    samples = check_int("samples", samples, 3)
    loaded = [s if isinstance(s, LatencyPredictor) else LatencyPredictor.load(s) for s in sources]
    records = read_profile(path)
    archs = sorted({r.arch for r in records})
    if samples > len(archs):
        raise HwnasError(
            f"samples: expected at most the {len(archs)} distinct architectures of the "
            f"profile, got {samples}"
        )
    chosen = {archs[i] for i in np.random.default_rng(seed).permutation(len(archs))[:samples]}
    train = [r for r in records if r.arch in chosen]
    test = [r for r in records if r.arch not in chosen]
    predictor = TransferPredictor(method=method).fit(loaded, train, space)
    held_out = baseline = None
    if test:
        y = np.array([r.median_ms for r in test])
        test_archs = [r.arch for r in test]
        held_out = evaluate_predictions(y, predictor.predict(test_archs))
        base = LatencyPredictor(model="linear-macs").fit(train, space)
        baseline = evaluate_predictions(y, base.predict(test_archs))
    metrics: dict[str, Any] = {
        "held_out": held_out,
        "baseline_linear_macs": baseline,
        "samples": samples,
        "n_train": len(train),
        "n_test": len(test),
        "seed": seed,
        "method": predictor.method_,
        "weights": predictor.weights_,
        "shares": predictor.shares_,
        "loo_scores": predictor.loo_scores_,
    }
    predictor.metrics_ = metrics
    return predictor, metrics
