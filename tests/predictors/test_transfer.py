"""Few-shot transfer from source-device predictors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.predictors import (
    LatencyPredictor,
    TransferPredictor,
    evaluate_predictions,
    fit_transfer,
    load_predictor,
)
from hwnas.spaces import create_space

from .synthetic import additive_latency, make_records, write_profile


@pytest.fixture
def source(records) -> LatencyPredictor:
    return LatencyPredictor(model="lut").fit(records)


def _target(nb201, n: int, seed: int = 5):
    base = additive_latency(0)
    return make_records(nb201, n, lambda enc: 2.0 * base(enc), device="synthetic-b", seed=seed)


@pytest.mark.parametrize("method", ["nnls-macs", "nnls", "log-nnls", "auto"])
def test_transfer_recovers_rank_order_from_10_samples(source, nb201, method) -> None:
    target = _target(nb201, 400)
    predictor = TransferPredictor(method=method).fit([source], target[:10])
    test = target[10:]
    pred = predictor.predict([r.arch for r in test])
    metrics = evaluate_predictions([r.median_ms for r in test], pred)
    assert metrics["spearman"] > 0.99
    assert metrics["within_10pct"] > 0.9
    assert set(predictor.weights_) == {source.device_id_}
    assert predictor.device_id_ == target[0].device_id
    assert set(predictor.loo_scores_) == {"nnls-macs", "nnls", "log-nnls"}
    assert predictor.method_ in predictor.loo_scores_
    if predictor.method_ != "log-nnls":
        assert predictor.weights_[source.device_id_] == pytest.approx(2.0, rel=0.05)
    assert sum(predictor.shares_.values()) == pytest.approx(1.0)


def test_transfer_leans_on_the_matching_source(source, nb201) -> None:
    other = LatencyPredictor(model="lut").fit(
        make_records(nb201, 300, additive_latency(7), device="synthetic-c")
    )
    target = _target(nb201, 30)
    predictor = TransferPredictor().fit([other, source], target)
    assert predictor.shares_[source.device_id_] > 0.9


def test_transfer_round_trip(source, nb201, tmp_path) -> None:
    target = _target(nb201, 60)
    predictor = TransferPredictor().fit([source], target[:10])
    path = predictor.save(tmp_path / "t.json")
    loaded = load_predictor(path)
    assert isinstance(loaded, TransferPredictor)
    archs = [r.arch for r in target]
    np.testing.assert_array_equal(loaded.predict(archs), predictor.predict(archs))
    assert loaded.weights_ == predictor.weights_ and loaded.source_ids_ == predictor.source_ids_
    with pytest.raises(HwnasError, match="kind: expected 'latency'"):
        LatencyPredictor.load(path)


def test_transfer_errors(source, nb201) -> None:
    target = _target(nb201, 20)
    with pytest.raises(HwnasError, match="at least 3 target"):
        TransferPredictor().fit([source], target[:2])
    with pytest.raises(HwnasError, match="method: expected one of"):
        TransferPredictor(method="magic").fit([source], target)
    with pytest.raises(HwnasError, match="at least one source"):
        TransferPredictor().fit([], target)
    with pytest.raises(HwnasError, match="twice"):
        TransferPredictor().fit([source, source], target)
    with pytest.raises(HwnasError, match="not fitted"):
        TransferPredictor().predict([target[0].arch])
    small = create_space("nb201", channels=(8, 16, 32))
    moved = [dataclasses.replace(r, space_fingerprint=small.fingerprint()) for r in target]
    with pytest.raises(HwnasError, match=r"sources\[0\].*fingerprint"):
        TransferPredictor().fit([source], moved, space=small)


def test_fit_transfer_reports_held_out(source, nb201, tmp_path) -> None:
    path = write_profile(tmp_path / "target.jsonl", _target(nb201, 80))
    predictor, metrics = fit_transfer(path, [source], samples=10, seed=2)
    assert metrics["samples"] == 10 and metrics["n_test"] == 70
    assert metrics["held_out"]["spearman"] > 0.99
    assert metrics["baseline_linear_macs"]["spearman"] < metrics["held_out"]["spearman"]
    assert predictor.metrics_ is metrics and predictor.n_train_ == 10
    with pytest.raises(HwnasError, match="samples: expected at most"):
        fit_transfer(path, [source], samples=81)
