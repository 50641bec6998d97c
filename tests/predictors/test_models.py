"""The model registry: every model is created and loaded by name; unknown names list the rest."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from hwnas.errors import ConfigError, HwnasError
from hwnas.predictors import LatencyPredictor, create_model, list_models, load_predictor
from hwnas.predictors.models import (
    ESTIMATORS,
    LEARNED_MODELS,
    MODEL_NAMES,
    MODELS,
    LatencyModel,
    SklearnModel,
    model_from_json,
)


def test_the_registry_holds_the_documented_models() -> None:
    assert list_models() == ["gbr", "gp", "linear-macs", "lut", "lut-boost", "mlp", "rf"]
    assert set(MODEL_NAMES) == {"auto", *list_models()}
    assert set(LEARNED_MODELS) <= set(list_models())
    assert set(ESTIMATORS) == {"gbr", "rf", "mlp", "gp"}


@pytest.mark.parametrize("name", list_models())
def test_every_model_is_created_by_name_and_survives_json(name) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 2.0, size=(40, 3))
    y = 0.5 + X @ np.array([1.0, 0.2, 0.0])
    columns, additive = ["macs_m", "params_m", "a"], np.array([True, True, True])
    model = create_model(name, seed=1)
    assert isinstance(model, LatencyModel) and model.name == name
    model.fit(X, y, columns, additive)
    entry = json.loads(json.dumps(model.to_json()))
    assert entry["name"] == name and entry["encoding"] == model.encoding
    loaded = model_from_json(entry, columns, additive)
    assert type(loaded) is type(model) and loaded.name == name
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert np.all(model.predict(X) > 0)


def test_lut_boost_learns_what_the_additive_table_cannot() -> None:
    # Latency with an interaction: the second operation costs more after a wide first one.
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(400, 6)).astype(float)
    y = 1.0 + X @ np.array([1.0, 0.5, 0.8, 0.3, 0.6, 0.2]) + 2.0 * X[:, 0] * X[:, 1]
    columns, additive = [f"c{i}" for i in range(6)], np.ones(6, dtype=bool)
    train, test = slice(0, 300), slice(300, None)
    errors = {}
    for name in ("lut", "lut-boost"):
        model = create_model(name, seed=0)
        model.fit(X[train], y[train], columns, additive)
        errors[name] = float(np.mean(np.abs(np.log(model.predict(X[test]) / y[test]))))
    assert errors["lut-boost"] < 0.5 * errors["lut"]
    # Without an interaction the trees leave the table as it is.
    y_add = 1.0 + X @ np.array([1.0, 0.5, 0.8, 0.3, 0.6, 0.2])
    table, boosted = create_model("lut"), create_model("lut-boost")
    table.fit(X, y_add, columns, additive)
    boosted.fit(X, y_add, columns, additive)
    np.testing.assert_allclose(boosted.predict(X), table.predict(X), rtol=1e-3)


def test_unknown_names_list_the_known_ones(records) -> None:
    known = ", ".join(list_models())
    with pytest.raises(ConfigError, match=f"model: expected one of {known}, got 'xgb'"):
        create_model("xgb")
    with pytest.raises(ConfigError, match=f"model: expected one of auto, {known}, got 'xgb'"):
        LatencyPredictor(model="xgb").fit(records)
    with pytest.raises(ConfigError, match="model: expected one of gbr, gp, mlp, rf"):
        SklearnModel("lut")
    with pytest.raises(ConfigError, match=rf"where\.name: expected one of {known}, got 'xgb'"):
        model_from_json({"name": "xgb", "encoding": "json"}, ["macs_m"], np.ones(1), "where")


def test_an_entry_of_the_wrong_encoding_is_refused() -> None:
    entry = {"name": "gbr", "encoding": "json", "intercept_ms": 1.0}
    with pytest.raises(HwnasError, match=r"m\.encoding: expected 'skops' for model gbr"):
        model_from_json(entry, ["macs_m"], np.ones(1, dtype=bool), "m")
    with pytest.raises(HwnasError, match="m: expected a JSON object"):
        model_from_json([], ["macs_m"], np.ones(1, dtype=bool), "m")


class MeanModel(LatencyModel):
    """A registered-from-outside model: the mean training latency, whatever the features."""

    name = "mean"

    def fit(self, X, y_ms, columns, additive) -> None:
        self.mean_ms = float(np.mean(y_ms))

    def predict(self, X) -> np.ndarray:
        return np.full(len(X), self.mean_ms)

    def _state_to_json(self) -> dict[str, Any]:
        return {"mean_ms": self.mean_ms}

    def _state_from_json(self, data, columns, additive, where) -> None:
        self.mean_ms = float(data["mean_ms"])


def test_a_registered_model_fits_saves_and_loads_by_name(records, tmp_path, monkeypatch) -> None:
    # The registry has no way to unregister; patch its table so other tests never see it.
    monkeypatch.setitem(MODELS._factories, "mean", MeanModel)
    predictor = LatencyPredictor(model="mean").fit(records)
    expected = np.mean([r.median_ms for r in records])
    np.testing.assert_allclose(predictor.predict([records[0].arch]), [expected])
    loaded = load_predictor(predictor.save(tmp_path / "mean.json"))
    assert isinstance(loaded, LatencyPredictor) and loaded.model_name_ == "mean"
    np.testing.assert_allclose(loaded.predict([records[0].arch]), [expected])


def test_a_tampered_lut_boost_entry_is_refused_by_field() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 2.0, size=(40, 3))
    y = 0.5 + X @ np.array([1.0, 0.2, 0.3])
    columns, additive = ["macs_m", "params_m", "a"], np.array([True, True, True])
    model = create_model("lut-boost", seed=0)
    model.fit(X, y, columns, additive)
    entry = json.loads(json.dumps(model.to_json()))

    def refused(change: dict[str, Any], match: str) -> None:
        with pytest.raises(HwnasError, match=match):
            model_from_json({**entry, **change}, columns, additive, "m")

    refused({"target": "log_ms"}, r"m\.target: expected 'log_ratio', got 'log_ms'")
    refused({"lut": None}, r"m\.lut: expected an object, got NoneType")
    refused({"lut": {**entry["lut"], "intercept_ms": "x"}}, r"m\.lut\.intercept_ms")
    # The trees: a model of another feature count, and another estimator class, are refused.
    other = create_model("lut-boost", seed=0)
    other.fit(X[:, :2], y, columns[:2], additive[:2])
    trees = {k: v for k, v in other.to_json().items() if k not in ("name", "encoding", "lut")}
    refused(trees, "m: expected a model of 3 features, got one of 2")
    forest = create_model("rf", seed=0)
    forest.fit(X, y, columns, additive)
    stored = {k: v for k, v in forest.to_json().items() if k not in ("name", "encoding", "target")}
    refused(stored, r"m: expected a sklearn\.ensemble\._gb\.GradientBoostingRegressor, got a")
    # The untouched entry still loads and predicts as the model did.
    loaded = model_from_json(entry, columns, additive)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
