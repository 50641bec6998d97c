"""Predictor files: round trips, the default location, and refusal of tampered files."""

from __future__ import annotations

import base64
import hashlib
import json

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.predictors import LatencyPredictor, default_predictor_path, list_models, load_predictor
from hwnas.predictors.models import MODELS


@pytest.mark.parametrize("model", list_models())
def test_round_trip_gives_identical_predictions(records, tmp_path, model) -> None:
    predictor = LatencyPredictor(model=model).fit(records[:100])
    path = predictor.save(tmp_path / "p.json")
    data = json.loads(path.read_text())
    assert data["format"] == "hwnas-predictor" and data["kind"] == "latency"
    assert data["space"]["name"] == "nb201" and data["device"]["id"] == predictor.device_id_
    assert data["model"]["encoding"] == MODELS.create(model).encoding
    assert data["model"]["encoding"] == ("json" if model in ("linear-macs", "lut") else "skops")
    loaded = LatencyPredictor.load(path)
    archs = [r.arch for r in records]
    np.testing.assert_array_equal(loaded.predict(archs), predictor.predict(archs))
    assert type(load_predictor(path)) is LatencyPredictor
    assert loaded.model_name_ == model and loaded.n_train_ == 100
    assert loaded.space_config_ == predictor.space_config_


def test_default_location(records, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    predictor = LatencyPredictor(model="lut").fit(records)
    path = predictor.save()
    assert path == default_predictor_path(predictor.device_id_, "nb201")
    assert (tmp_path / "predictors" / predictor.device_id_ / "nb201.json").is_file()


@pytest.fixture
def gbr_file(records, tmp_path):
    path = LatencyPredictor(model="gbr").fit(records[:60]).save(tmp_path / "gbr.json")
    return path, json.loads(path.read_text())


def _with_payload(path, data, raw: bytes):
    data["model"]["data"] = base64.b64encode(raw).decode()
    data["model"]["sha256"] = hashlib.sha256(raw).hexdigest()
    path.write_text(json.dumps(data))
    return path


def test_refuses_injected_function(gbr_file) -> None:
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    path, data = gbr_file
    _with_payload(path, data, sio.dumps(make_pipeline(FunctionTransformer(func=eval))))
    with pytest.raises(HwnasError, match=r"outside the allowlist.*FunctionTransformer"):
        LatencyPredictor.load(path)


def test_refuses_types_skops_trusts_but_the_allowlist_does_not(gbr_file) -> None:
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    path, data = gbr_file
    raw = sio.dumps(LinearRegression().fit(np.eye(3), np.ones(3)))
    assert sio.get_untrusted_types(data=raw) == []  # skops alone would load it
    _with_payload(path, data, raw)
    with pytest.raises(HwnasError, match=r"outside the allowlist.*LinearRegression"):
        LatencyPredictor.load(path)


def test_refuses_an_allowed_model_of_the_wrong_kind(gbr_file, records) -> None:
    path, data = gbr_file
    rf = LatencyPredictor(model="rf").fit(records[:30]).to_json()["model"]
    data["model"]["data"], data["model"]["sha256"] = rf["data"], rf["sha256"]
    path.write_text(json.dumps(data))
    with pytest.raises(HwnasError, match=r"expected a sklearn\.ensemble\._gb\.GradientBoosting"):
        LatencyPredictor.load(path)


def test_refuses_edited_or_broken_files(gbr_file, tmp_path) -> None:
    path, data = gbr_file
    edited = dict(data, model=dict(data["model"], sha256="0" * 64))
    path.write_text(json.dumps(edited))
    with pytest.raises(HwnasError, match="checksum"):
        LatencyPredictor.load(path)
    path.write_text(json.dumps(dict(data, model=dict(data["model"], data="not base64!"))))
    with pytest.raises(HwnasError, match="base64"):
        LatencyPredictor.load(path)
    path.write_text(path.read_text()[:-20])
    with pytest.raises(HwnasError, match="not valid JSON"):
        LatencyPredictor.load(path)
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "device"}))
    with pytest.raises(HwnasError, match=r"device: expected a dict"):
        LatencyPredictor.load(path)
    path.write_text(json.dumps(dict(data, format_version=99)))
    with pytest.raises(HwnasError, match="format_version: expected 1"):
        LatencyPredictor.load(path)
    path.write_text(json.dumps(dict(data, kind="transfer")))
    with pytest.raises(HwnasError, match="kind: expected 'latency'"):
        LatencyPredictor.load(path)
    path.write_text(json.dumps(dict(data, kind="oracle")))
    with pytest.raises(
        HwnasError, match="kind: expected one of calibrated, latency, transfer, got 'oracle'"
    ):
        load_predictor(path)
    with pytest.raises(HwnasError, match="no such file"):
        LatencyPredictor.load(tmp_path / "missing.json")
    with pytest.raises(HwnasError, match="a folder, not a predictor file"):
        load_predictor(tmp_path)


def test_refuses_a_changed_space(records, tmp_path) -> None:
    path = LatencyPredictor(model="lut").fit(records).save(tmp_path / "p.json")
    data = json.loads(path.read_text())
    data["space"]["fingerprint"] = "0123456789abcdef"
    path.write_text(json.dumps(data))
    with pytest.raises(HwnasError, match="space definition changed"):
        LatencyPredictor.load(path)


def test_refuses_negative_lut_costs(records, tmp_path) -> None:
    path = LatencyPredictor(model="lut").fit(records).save(tmp_path / "p.json")
    data = json.loads(path.read_text())
    key = next(iter(data["model"]["costs_ms"]))
    data["model"]["costs_ms"][key] = -1.0
    path.write_text(json.dumps(data))
    with pytest.raises(HwnasError, match=f"costs_ms.{key}: expected a cost >= 0"):
        LatencyPredictor.load(path)
