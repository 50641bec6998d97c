"""A predictor corrected on a few measurements of this machine, and how predictions agree
with measurements.

Two machines with the same device id can differ in speed (clock, host, tenancy, memory):
a predictor fitted on one was 2.6-2.9x off on another. :mod:`hwnas.profiling.calibration`
measures a few reference architectures and, when they disagree with the predictions, wraps
the predictor in a :class:`CalibratedPredictor`: a map from the predicted to the measured
latency, fitted on those points, saved as a predictor file of kind ``calibrated`` (the
wrapped predictor's JSON inside; no pickle).

The map is ``log m = a + b log p``. ``scale`` fixes ``b = 1`` (one factor, the median
ratio); ``log-linear`` fits ``b`` too (robust Theil-Sen line), for a ratio that trends with
latency (the machine above was 2.50x off at the 10th percentile, 3.44x at the 90th).
``auto`` takes ``log-linear`` only when its leave-one-out error on the points is clearly
smaller (by :data:`LOG_LINEAR_GAIN`) and its slope is plausible (:data:`SLOPE_RANGE`):
with about 12 noisy points, one parameter cannot overfit, keeps the predictor's ranks and
spacing, and a second one must earn its place.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hwnas.errors import HwnasError
from hwnas.predictors.base import (
    PREDICTOR_KINDS,
    BasePredictor,
    read_predictor_file,
    register_predictor,
)
from hwnas.predictors.models import MIN_LATENCY_MS
from hwnas.spaces.base import Arch
from hwnas.validate import check_int

#: Correction forms (``auto`` chooses one of the other two).
CORRECTION_FORMS: tuple[str, ...] = ("auto", "scale", "log-linear")
#: ``auto`` takes ``log-linear`` only when its leave-one-out error is below this share of
#: the ``scale`` one.
LOG_LINEAR_GAIN = 0.8
#: Slopes outside this range are not a plausible distortion of a working predictor.
SLOPE_RANGE = (0.5, 2.0)
#: Architectures sampled and predicted to choose reference points from.
POOL_SIZE = 300


def agreement(
    measured_ms: Sequence[float] | np.ndarray, predicted_ms: Sequence[float] | np.ndarray
) -> dict[str, float | None]:
    """How predictions agree with measurements.

    Returns:
        ``{"ratio": median of measured / predicted, "spearman": rank correlation (``None``
        when undefined), "within_10pct": share of predictions within 10 % of the
        measurement}``.
    """
    from scipy.stats import spearmanr

    measured = np.asarray(measured_ms, dtype=float)
    predicted = np.maximum(np.asarray(predicted_ms, dtype=float), MIN_LATENCY_MS)
    if measured.size == 0 or measured.shape != predicted.shape:
        raise HwnasError(
            f"predicted_ms: expected one prediction per measurement ({measured.size}), "
            f"got {predicted.size}"
        )
    rho = math.nan
    if measured.size >= 2 and np.ptp(measured) > 0 and np.ptp(predicted) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho = float(spearmanr(measured, predicted).statistic)
    return {
        "ratio": float(np.median(measured / predicted)),
        "spearman": rho if math.isfinite(rho) else None,
        "within_10pct": float(np.mean(np.abs(predicted - measured) <= 0.1 * measured)),
    }


@dataclass(frozen=True)
class Correction:
    """``log m = intercept + slope * log p``, and how it was chosen."""

    form: str
    intercept: float
    slope: float
    loo_scores: dict[str, float]

    def apply(self, predicted_ms: np.ndarray) -> np.ndarray:
        """Corrected latencies (ms) for predictions ``predicted_ms``."""
        logs = np.log(np.maximum(np.asarray(predicted_ms, dtype=float), MIN_LATENCY_MS))
        return np.maximum(
            np.exp(np.clip(self.intercept + self.slope * logs, -50.0, 50.0)), MIN_LATENCY_MS
        )

    def to_json(self) -> dict[str, Any]:
        """The correction as plain data."""
        return {
            "form": self.form,
            "log_intercept": self.intercept,
            "log_slope": self.slope,
            "factor": math.exp(self.intercept),
            "loo_scores": dict(self.loo_scores),
        }


def _fit_form(form: str, log_p: np.ndarray, log_m: np.ndarray) -> tuple[float, float]:
    if form == "log-linear" and log_p.size >= 3 and np.ptp(log_p) > 0:
        from scipy.stats import theilslopes

        slope, intercept, _, _ = theilslopes(log_m, log_p)
        return float(intercept), float(slope)
    return float(np.median(log_m - log_p)), 1.0


def _loo(form: str, log_p: np.ndarray, log_m: np.ndarray) -> float:
    """Leave-one-out mean absolute log error of ``form`` (``inf`` below 3 points)."""
    if log_p.size < 3:
        return math.inf
    errors = []
    for i in range(log_p.size):
        keep = np.arange(log_p.size) != i
        intercept, slope = _fit_form(form, log_p[keep], log_m[keep])
        errors.append(abs(intercept + slope * log_p[i] - log_m[i]))
    return float(np.mean(errors))


def fit_correction(
    predicted_ms: Sequence[float] | np.ndarray,
    measured_ms: Sequence[float] | np.ndarray,
    form: str = "auto",
) -> Correction:
    """Fit the map from predicted to measured latency (see the module docstring).

    Raises:
        HwnasError: An unknown form, no points, or latencies that are not positive.
    """
    if form not in CORRECTION_FORMS:
        raise HwnasError(f"form: expected one of {', '.join(CORRECTION_FORMS)}, got {form!r}")
    predicted = np.asarray(predicted_ms, dtype=float)
    measured = np.asarray(measured_ms, dtype=float)
    if predicted.size == 0 or predicted.shape != measured.shape:
        raise HwnasError("expected as many predictions as measurements, at least one")
    if not (np.all(np.isfinite(measured)) and np.all(measured > 0)):
        raise HwnasError("measured_ms: expected positive finite latencies")
    log_p = np.log(np.maximum(predicted, MIN_LATENCY_MS))
    log_m = np.log(measured)
    scores = {f: _loo(f, log_p, log_m) for f in CORRECTION_FORMS[1:]}
    chosen = form
    if form == "auto":
        _, slope = _fit_form("log-linear", log_p, log_m)
        better = scores["log-linear"] < LOG_LINEAR_GAIN * scores["scale"]
        plausible = SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1]
        chosen = "log-linear" if better and plausible else "scale"
    intercept, slope = _fit_form(chosen, log_p, log_m)
    return Correction(chosen, intercept, slope, scores)


def reference_archs(
    predictor: BasePredictor,
    n: int,
    *,
    seed: int = 0,
    exclude: Sequence[Arch | str] = (),
    pool_size: int = POOL_SIZE,
    max_ms: float | None = None,
) -> list[Arch]:
    """``n`` distinct architectures spread evenly over the log of the predicted latency.

    ``pool_size`` random architectures of the predictor's space (and its smallest, where
    latency budgets usually bite) are predicted; each of ``n`` evenly spaced targets
    between the smallest and the largest log-prediction takes the nearest architecture not
    taken yet. The space's largest architecture is left out: a predictor extrapolating
    there (the shipped mbconv one predicts 13 ms for 1.2-1.5 ms measured, while random
    architectures stay under 0.5 ms) would stretch the range and bunch the points. Fixed
    by ``seed``; ``exclude`` (e.g. the points of an earlier check) is never taken. With
    ``max_ms`` the targets end there (e.g. at twice a run's latency ceiling: beyond it a
    prediction only has to say "too slow").
    """
    n = check_int("points", n, 1)
    space = predictor.space()
    rng = np.random.default_rng(seed)
    skip = {str(a) for a in exclude}
    pool: dict[str, Arch] = {}
    for arch in [space.smallest()] + [space.sample(rng) for _ in range(pool_size)]:
        if str(arch) not in skip:
            pool.setdefault(str(arch), arch)
    archs = list(pool.values())
    if len(archs) <= n:
        return archs
    log_ms = np.log(np.maximum(predictor.predict(archs), 1e-9))
    free = np.ones(len(archs), dtype=bool)
    chosen: list[Arch] = []
    top = log_ms.max() if max_ms is None else min(log_ms.max(), np.log(max_ms))
    for target in np.linspace(log_ms.min(), max(top, log_ms.min()), n):
        index = int(np.argmin(np.where(free, np.abs(log_ms - target), np.inf)))
        free[index] = False
        chosen.append(archs[index])
    return chosen


@dataclass(frozen=True)
class Tolerance:
    """When predictions agree with measurements.

    Attributes:
        min_within_10pct: The check passes when at least this share of the points is
            predicted within 10 % ...
        max_ratio_error: ... and the median measured / predicted ratio is within this of 1.
        min_spearman: Below this rank correlation the ranks disagree: a rescale cannot
            repair the predictor, ``rescale`` re-profiles instead.
    """

    min_within_10pct: float = 0.8
    max_ratio_error: float = 0.1
    min_spearman: float = 0.8

    def passes(self, figures: Mapping[str, Any]) -> bool:
        """Whether the :func:`agreement` figures are within tolerance."""
        return bool(
            figures["within_10pct"] >= self.min_within_10pct
            and abs(figures["ratio"] - 1.0) <= self.max_ratio_error
        )

    def ranks_agree(self, figures: Mapping[str, Any]) -> bool:
        """Whether the predicted ranks agree with the measured ones."""
        rho = figures["spearman"]
        return rho is not None and rho >= self.min_spearman

    def to_json(self) -> dict[str, float]:
        """The tolerance as plain data."""
        return {
            "min_within_10pct": self.min_within_10pct,
            "max_ratio_error": self.max_ratio_error,
            "min_spearman": self.min_spearman,
        }


@dataclass
class Points:
    """Measured reference architectures and a predictor's predictions for them."""

    archs: list[str]
    measured_ms: list[float]
    predicted_ms: list[float]

    def figures(self) -> dict[str, float | None]:
        """``{"ratio", "spearman", "within_10pct"}`` (see :func:`agreement`)."""
        return agreement(self.measured_ms, self.predicted_ms)

    def predicted_by(self, predictor: BasePredictor) -> Points:
        """The same measurements with ``predictor``'s predictions."""
        predicted = predictor.predict(self.archs)
        return Points(self.archs, self.measured_ms, [float(v) for v in predicted])


@register_predictor
class CalibratedPredictor(BasePredictor):
    """A fitted predictor whose predictions go through a :class:`Correction`.

    Args:
        form: ``auto`` (default), ``scale`` or ``log-linear`` (see the module docstring).

    Fitted attributes, besides those of :class:`~hwnas.predictors.base.BasePredictor`
    (copied from the wrapped predictor; ``n_train_`` is the number of points):
        base_: The wrapped predictor (any registered kind).
        correction_: The :class:`Correction`.
    """

    kind: ClassVar[str] = "calibrated"

    base_: BasePredictor
    correction_: Correction

    def __init__(self, form: str = "auto") -> None:
        self.form = form

    def get_params(self) -> dict[str, Any]:
        return {"form": self.form}

    def fit(
        self,
        base: BasePredictor,
        archs: Sequence[Arch | str],
        measured_ms: Sequence[float] | np.ndarray,
    ) -> CalibratedPredictor:
        """Fit the correction of ``base`` on measured architectures of this machine.

        Returns:
            ``self``.
        """
        base._check_fitted()
        correction = fit_correction(base.predict(list(archs)), measured_ms, self.form)
        return self._set(base, correction, len(archs))

    @classmethod
    def wrap(cls, base: BasePredictor, correction: Correction) -> CalibratedPredictor:
        """``base`` with a given correction (e.g. a known factor)."""
        base._check_fitted()
        return cls(form=correction.form)._set(base, correction, 0)

    def _set(self, base: BasePredictor, correction: Correction, n: int) -> CalibratedPredictor:
        for name in (
            "space_",
            "space_config_",
            "space_fingerprint_",
            "fingerprint_",
            "device_id_",
            "input_shape_",
            "num_classes_",
            "batch_",
            "runtime_",
            "created_",
        ):
            setattr(self, name, getattr(base, name))
        self._space_obj = base.space()
        self.n_train_ = int(n)
        self.metrics_ = {"correction": correction.to_json(), "base": dict(base.metrics_)}
        self.base_ = base
        self.correction_ = correction
        return self

    def _predict_archs(self, archs: list[Arch], cache: dict[Any, np.ndarray]) -> np.ndarray:
        return self.correction_.apply(self.base_._predict_archs(archs, cache))

    def to_json(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            **self._header(),
            "params": {"form": self.form},
            "correction": self.correction_.to_json(),
            "base": self.base_.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "predictor") -> CalibratedPredictor:
        params = data.get("params")
        form = params.get("form") if isinstance(params, dict) else None
        if form not in CORRECTION_FORMS:
            raise HwnasError(
                f"{where}.params.form: expected one of {', '.join(CORRECTION_FORMS)}, got {form!r}"
            )
        self = cls(form=form)
        self._read_header(data, where)
        correction = data.get("correction")
        if not isinstance(correction, dict) or correction.get("form") not in CORRECTION_FORMS[1:]:
            raise HwnasError(f"{where}.correction: expected a scale or log-linear correction")
        numbers = []
        for key in ("log_intercept", "log_slope"):
            value = correction.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise HwnasError(f"{where}.correction.{key}: expected a number, got {value!r}")
            if not math.isfinite(value):
                raise HwnasError(f"{where}.correction.{key}: expected a finite number")
            numbers.append(float(value))
        base = data.get("base")
        kind = base.get("kind") if isinstance(base, dict) else None
        if not isinstance(base, dict) or not isinstance(kind, str) or kind not in PREDICTOR_KINDS:
            raise HwnasError(
                f"{where}.base: expected a predictor of kind "
                f"{', '.join(PREDICTOR_KINDS.names())}, got kind {kind!r}"
            )
        loaded = PREDICTOR_KINDS.get(kind)(base, f"{where}.base")
        loaded.check_space(self.space())
        scores = correction.get("loo_scores")
        self.base_ = loaded
        self.correction_ = Correction(
            correction["form"], numbers[0], numbers[1], scores if isinstance(scores, dict) else {}
        )
        return self

    @classmethod
    def load(cls, path: str) -> CalibratedPredictor:
        """Load a calibrated predictor written by :meth:`save` (checked; no pickle)."""
        return cls.from_json(read_predictor_file(path), f"predictor {path}")


__all__ = [
    "CORRECTION_FORMS",
    "CalibratedPredictor",
    "Correction",
    "Points",
    "Tolerance",
    "agreement",
    "fit_correction",
    "reference_archs",
]
