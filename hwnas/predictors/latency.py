"""Latency predictors fitted on one device profile, and :func:`fit_profile`."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from hwnas.errors import HwnasError
from hwnas.predictors.base import (
    BasePredictor,
    ProfileInfo,
    check_profile_records,
    read_predictor_file,
    register_predictor,
)
from hwnas.predictors.features import FeatureBlock, FeatureContext, FeatureSpec, as_archs
from hwnas.predictors.metrics import evaluate_predictions
from hwnas.predictors.models import (
    GP_AUTO_MAX_RECORDS,
    LEARNED_MODELS,
    LatencyModel,
    check_model_name,
    create_model,
    model_from_json,
)
from hwnas.profiling.store import ProfileRecord, read_profile
from hwnas.spaces.base import Arch, SearchSpace
from hwnas.validate import check_float, check_int

#: Cross-validated mean absolute log errors this close count as equal when ``auto``
#: chooses a model (a relative error of one in a billion: float rounding, not skill).
TIE_MALE = 1e-9


def _folds(groups: Sequence[str], n_folds: int, seed: int) -> np.ndarray:
    """A fold number per sample; samples of one architecture share a fold."""
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[i]: k % n_folds for k, i in enumerate(order)}
    return np.array([fold_of[g] for g in groups])


def _score(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    metrics = evaluate_predictions(y, pred)
    return {
        "male": float(np.mean(np.abs(np.log(pred / y)))),
        "within_10pct": metrics["within_10pct"],
        "spearman": metrics["spearman"],
    }


@register_predictor
class LatencyPredictor(BasePredictor):
    """Predicts the latency (ms) of architectures on one device from one profile.

    Behaves like a scikit-learn estimator: the constructor only stores its arguments,
    :meth:`fit` returns ``self`` and sets the attributes ending in ``_``.

    Args:
        model: ``auto`` (choose among ``lut``, ``gbr``, ``rf``, ``mlp`` and ``gp`` by
            ``cv``-fold cross-validated mean absolute log error; ``gp`` only up to
            :data:`~hwnas.predictors.models.GP_AUTO_MAX_RECORDS` records), or one of
            ``linear-macs`` (the MAC-count baseline), ``lut``, ``gbr``, ``rf``, ``mlp``,
            ``gp`` (see :mod:`hwnas.predictors.models`).
        seed: Random seed of the models and of the CV folds.
        cv: Number of cross-validation folds for ``auto``.
        features: Feature blocks (default: the space's ``predictor_features``, ``ops`` +
            ``costs`` for most spaces; see :mod:`hwnas.predictors.features`).

    Fitted attributes, besides those of :class:`~hwnas.predictors.base.BasePredictor`:
        model_name_: The model used (the one chosen when ``model="auto"``).
        model_: The fitted :class:`~hwnas.predictors.models.LatencyModel`.
        cv_scores_: ``{model: {"male", "within_10pct", "spearman", "seconds"}}`` from
            cross-validation (``auto`` only; ``linear-macs`` is scored for reference but
            never chosen), else ``{}``.
        features_: The :class:`FeatureSpec`; ``columns_`` its column names.
    """

    kind: ClassVar[str] = "latency"

    model_name_: str
    model_: LatencyModel
    cv_scores_: dict[str, dict[str, Any]]
    features_: FeatureSpec
    columns_: list[str]

    def __init__(
        self,
        model: str = "auto",
        seed: int = 0,
        cv: int = 5,
        features: FeatureSpec | Sequence[str | FeatureBlock] | None = None,
    ) -> None:
        self.model = model
        self.seed = seed
        self.cv = cv
        self.features = features

    def get_params(self) -> dict[str, Any]:
        return {"model": self.model, "seed": self.seed, "cv": self.cv, "features": self.features}

    def _feature_spec(self, space: SearchSpace) -> FeatureSpec:
        if self.features is None:
            return FeatureSpec(space.predictor_features)
        if isinstance(self.features, FeatureSpec):
            return self.features
        return FeatureSpec(list(self.features))

    def _context(self) -> FeatureContext:
        return FeatureContext(self.space(), self.input_shape_, self.num_classes_)

    # -- fitting -----------------------------------------------------------------------
    def fit(
        self, records: Sequence[ProfileRecord], space: SearchSpace | None = None
    ) -> LatencyPredictor:
        """Fit on the records of one profile (median latencies).

        Args:
            records: Profile records of one space and one device fingerprint.
            space: The space they were measured in (default: the registered space of that
                name with its default configuration, checked against the recorded
                fingerprint).

        Returns:
            ``self``.

        Raises:
            HwnasError: Bad arguments, fewer than 2 records (3 distinct architectures for
                ``auto``), or records that are not one profile.
        """
        model = check_model_name(self.model)
        seed = check_int("seed", self.seed, 0)
        cv = check_int("cv", self.cv, 2)
        info = check_profile_records(records, space)
        if len(records) < 2:
            raise HwnasError(f"records: expected at least 2 measurements, got {len(records)}")
        spec = self._feature_spec(info.space)
        context = FeatureContext(info.space, info.input_shape, info.num_classes)
        archs = as_archs(info.space, [r.arch for r in records])
        X = spec.matrix(context, archs)
        y = np.array([r.median_ms for r in records], dtype=float)
        columns = spec.columns(context)
        additive = spec.additive(context)
        scores: dict[str, dict[str, Any]] = {}
        if model == "auto":
            groups = [str(a) for a in archs]
            n_unique = len(set(groups))
            if n_unique < 3:
                raise HwnasError(
                    "model 'auto': expected at least 3 distinct architectures to cross-validate, "
                    f"got {n_unique}; name a model instead"
                )
            folds = _folds(groups, min(cv, n_unique), seed)
            candidates = [
                m for m in LEARNED_MODELS if m != "gp" or len(records) <= GP_AUTO_MAX_RECORDS
            ]
            for name in [*candidates, "linear-macs"]:
                start = time.perf_counter()
                pred = np.empty_like(y)
                for k in range(int(folds.max()) + 1):
                    test = folds == k
                    fold_model = create_model(name, seed)
                    fold_model.fit(X[~test], y[~test], columns, additive)
                    pred[test] = fold_model.predict(X[test])
                scores[name] = {**_score(y, pred), "seconds": time.perf_counter() - start}
            # Equal scores go to the first in LEARNED_MODELS order; "equal" allows for
            # float rounding (two exact fits scored 2.1e-16 and 2.3e-16, in an order that
            # changed between two fresh installs of the same code).
            best = min(scores[m]["male"] for m in candidates)
            model = next(m for m in candidates if scores[m]["male"] <= best + TIE_MALE)
        fitted = create_model(model, seed)
        fitted.fit(X, y, columns, additive)
        self._set_profile_info(info, len(records))
        self.model_name_ = model
        self.model_ = fitted
        self.cv_scores_ = scores
        self.features_ = spec
        self.columns_ = columns
        return self

    # -- prediction ----------------------------------------------------------------------
    def feature_matrix(self, archs: Sequence[Arch | str] | Arch | str) -> np.ndarray:
        """The feature matrix of ``archs`` (columns ``columns_``)."""
        self._check_fitted()
        return self.features_.matrix(self._context(), self.parse_archs(archs))

    def _predict_archs(self, archs: list[Arch], cache: dict[Any, np.ndarray]) -> np.ndarray:
        key = (
            "features",
            self.input_shape_,
            self.num_classes_,
            repr(self.features_.to_json()),
        )
        X = cache.get(key)
        if X is None:
            X = self.features_.matrix(self._context(), archs)
            cache[key] = X
        return self.model_.predict(X)

    # -- persistence ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            **self._header(),
            "params": {"model": self.model, "seed": self.seed, "cv": self.cv},
            "model_name": self.model_name_,
            "features": self.features_.to_json(),
            "columns": self.columns_,
            "cv_scores": self.cv_scores_,
            "model": self.model_.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "predictor") -> LatencyPredictor:
        params = data.get("params")
        if not isinstance(params, dict):
            raise HwnasError(f"{where}.params: expected an object, got {params!r}")
        self = cls(
            model=params.get("model", "auto"),
            seed=params.get("seed", 0),
            cv=params.get("cv", 5),
        )
        self._read_header(data, where)
        self.features_ = FeatureSpec.from_json(data.get("features"), f"{where}.features")
        self.features = self.features_
        self.columns_ = self.features_.columns(self._context())
        if data.get("columns") != self.columns_:
            raise HwnasError(
                f"{where}.columns: expected the {len(self.columns_)} columns of its feature "
                "blocks in this hwnas version; the feature layout changed, refit the predictor"
            )
        self.model_ = model_from_json(
            data.get("model"),
            self.columns_,
            self.features_.additive(self._context()),
            f"{where}.model",
        )
        self.model_name_ = self.model_.name
        if data.get("model_name") != self.model_name_:
            raise HwnasError(
                f"{where}.model_name: expected {self.model_name_!r} (the stored model), "
                f"got {data.get('model_name')!r}"
            )
        scores = data.get("cv_scores", {})
        self.cv_scores_ = scores if isinstance(scores, dict) else {}
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatencyPredictor:
        """Load a predictor written by :meth:`save` (checked; no pickle involved).

        Raises:
            HwnasError: The file is missing, not valid JSON, not a latency predictor, has a
                missing or malformed field (named in the message), a model payload with a
                type outside the allowlist, or was fitted in a space that changed since.
        """
        return cls.from_json(read_predictor_file(path), f"predictor {path}")


def split_records(
    records: Sequence[ProfileRecord], test_fraction: float, seed: int
) -> tuple[list[ProfileRecord], list[ProfileRecord]]:
    """Split records by architecture (all measurements of one architecture on one side).

    Args:
        records: The records.
        test_fraction: Share of the distinct architectures held out, in ``[0, 1)``.
        seed: Seed of the random split.
    """
    test_fraction = check_float("test_fraction", test_fraction, 0, 1, include_high=False)
    archs = sorted({r.arch for r in records})
    n_test = round(test_fraction * len(archs))
    if test_fraction > 0 and n_test == 0 and len(archs) >= 2:
        n_test = 1
    order = np.random.default_rng(seed).permutation(len(archs))
    held_out = {archs[i] for i in order[:n_test]}
    train = [r for r in records if r.arch not in held_out]
    test = [r for r in records if r.arch in held_out]
    return train, test


def fit_profile(
    path: str | os.PathLike[str],
    *,
    model: str = "auto",
    test_fraction: float = 0.2,
    seed: int = 0,
    cv: int = 5,
    space: SearchSpace | None = None,
    features: Sequence[str | FeatureBlock] | None = None,
) -> tuple[LatencyPredictor, dict[str, Any]]:
    """Fit a predictor on a profile file and measure it on held-out architectures.

    The profile's distinct architectures are split (``test_fraction`` held out, by
    ``seed``); the model (chosen by CV on the training part when ``model="auto"``) and the
    ``linear-macs`` baseline are fitted on the training part and scored on the held-out
    part; then the chosen model is refitted on all records. The returned predictor keeps
    the held-out metrics in ``metrics_``. ``features`` names the feature blocks (default: the
    space's ``predictor_features``; see :mod:`hwnas.predictors.features`).

    Returns:
        ``(predictor, metrics)``; ``metrics`` has ``model``, ``held_out`` and
        ``baseline_linear_macs`` (each :func:`evaluate_predictions`'s dict, or ``None``
        when nothing is held out), ``n_train``, ``n_test``, ``test_fraction``, ``seed``,
        ``cv_scores`` and ``fit_seconds``.
    """
    start = time.perf_counter()
    records = read_profile(path)
    train, test = split_records(records, test_fraction, seed)
    first = LatencyPredictor(model=model, seed=seed, cv=cv, features=features).fit(train, space)
    held_out = baseline = None
    if test:
        y_test = np.array([r.median_ms for r in test])
        test_archs = [r.arch for r in test]
        held_out = evaluate_predictions(y_test, first.predict(test_archs))
        base = LatencyPredictor(model="linear-macs", seed=seed).fit(train, space)
        baseline = evaluate_predictions(y_test, base.predict(test_archs))
    final = first
    if test:
        final = LatencyPredictor(model=first.model_name_, seed=seed, cv=cv, features=features).fit(
            records, space
        )
        final.model = model
        final.cv_scores_ = first.cv_scores_
    metrics: dict[str, Any] = {
        "model": first.model_name_,
        "held_out": held_out,
        "baseline_linear_macs": baseline,
        "n_train": len(train),
        "n_test": len(test),
        "test_fraction": test_fraction,
        "seed": seed,
        "cv_scores": first.cv_scores_,
        "features": [block["name"] for block in first.features_.to_json()],
        "fit_seconds": time.perf_counter() - start,
    }
    final.metrics_ = metrics
    return final, metrics


__all__ = ["LatencyPredictor", "ProfileInfo", "fit_profile", "split_records"]
