"""LatencyPredictor: fitting, metrics, scikit-learn conventions and mismatch errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwnas.errors import ArchError, HwnasError
from hwnas.predictors import (
    LatencyPredictor,
    evaluate_predictions,
    fit_profile,
    split_records,
)
from hwnas.predictors.latency import TIE_MALE
from hwnas.spaces import create_space

from .synthetic import additive_latency, make_records, synthetic_fingerprint, write_profile


def test_evaluate_predictions_values() -> None:
    m = evaluate_predictions([10.0, 20.0, 30.0, 40.0], [10.4, 21.5, 30.0, 30.0])
    assert m["n"] == 4
    assert m["within_5pct"] == 0.5 and m["within_10pct"] == 0.75
    assert m["mape"] == pytest.approx((0.04 + 0.075 + 0 + 0.25) / 4)
    assert m["rmse_ms"] == pytest.approx(np.sqrt((0.16 + 2.25 + 0 + 100) / 4))
    assert m["spearman"] == pytest.approx(0.9486833, abs=1e-6)
    assert m["kendall_tau"] is not None
    assert evaluate_predictions([1.0], [1.0])["spearman"] is None
    with pytest.raises(HwnasError, match="y_pred"):
        evaluate_predictions([1.0, 2.0], [1.0])
    with pytest.raises(HwnasError, match="y_true"):
        evaluate_predictions([0.0, 2.0], [1.0, 1.0])


@pytest.mark.parametrize(("model", "bar"), [("lut", 0.95), ("gbr", 0.75)])
def test_fit_predict_additive_profile(records, model, bar) -> None:
    train, test = records[:240], records[240:]
    predictor = LatencyPredictor(model=model, seed=0)
    assert predictor.fit(train) is predictor
    pred = predictor.predict([r.arch for r in test])
    metrics = evaluate_predictions([r.median_ms for r in test], pred)
    assert metrics["within_10pct"] > bar  # lut is exact for additive costs
    assert metrics["spearman"] > 0.95
    assert predictor.model_name_ == model and predictor.n_train_ == 240
    assert (
        predictor.space_ == "nb201"
        and predictor.space_fingerprint_ == create_space("nb201").fingerprint()
    )
    assert predictor.device_id_ == records[0].device_id
    assert predictor.input_shape_ == (3, 32, 32) and predictor.num_classes_ == 10
    assert predictor.get_params()["model"] == model  # constructor arguments kept as given


def test_auto_chooses_by_cross_validation(nb201) -> None:
    records = make_records(nb201, 150, additive_latency(1))
    predictor = LatencyPredictor(cv=3).fit(records)
    scores = predictor.cv_scores_
    assert set(scores) == {"lut", "lut-boost", "gbr", "rf", "mlp", "gp", "linear-macs"}
    best = min(scores[m]["male"] for m in ("lut", "lut-boost", "gbr", "rf", "mlp", "gp"))
    # The truth is additive: the lookup table is exact (lut-boost, a table plus boosted
    # residuals, scores the same up to float rounding: a tie goes to the simpler model).
    assert predictor.model_name_ == "lut" and scores["lut"]["male"] <= best + TIE_MALE
    assert scores["lut"]["male"] < scores["linear-macs"]["male"]
    seen = {r.arch for r in records}
    test = [r for r in make_records(nb201, 300, additive_latency(1), seed=1) if r.arch not in seen]
    pred = predictor.predict([r.arch for r in test])
    assert evaluate_predictions([r.median_ms for r in test], pred)["within_10pct"] > 0.95


def test_predict_accepts_values_and_strings(records, nb201) -> None:
    predictor = LatencyPredictor(model="lut").fit(records)
    arch = nb201.parse(records[0].arch)
    a = predictor.predict([arch, records[0].arch])
    assert a.shape == (2,) and a.dtype == np.float64 and a[0] == a[1]
    assert predictor.predict(arch).shape == (1,)


def test_unfitted_predictor_raises() -> None:
    with pytest.raises(HwnasError, match="not fitted"):
        LatencyPredictor().predict(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
    with pytest.raises(HwnasError, match="not fitted"):
        LatencyPredictor().save("x.json")


def test_bad_arguments(records) -> None:
    with pytest.raises(HwnasError, match="model: expected one of"):
        LatencyPredictor(model="xgboost").fit(records)
    with pytest.raises(HwnasError, match="cv: expected an integer >= 2"):
        LatencyPredictor(cv=1).fit(records)
    with pytest.raises(HwnasError, match="at least one profile record"):
        LatencyPredictor().fit([])
    with pytest.raises(HwnasError, match="at least 3 distinct"):
        LatencyPredictor().fit(records[:2])


def test_wrong_space_errors(records) -> None:
    predictor = LatencyPredictor(model="lut").fit(records)
    mbconv = create_space("mbconv")
    with pytest.raises(ArchError, match=r"space 'nb201'.*space 'mbconv'"):
        predictor.predict([mbconv.sample(np.random.default_rng(0))])
    with pytest.raises(ArchError, match=r"archs\[1\]"):
        predictor.predict([records[0].arch, "w1-relu:k3e4"])
    with pytest.raises(HwnasError, match=r"space 'nb201'.*got space 'mbconv'"):
        predictor.check_space(mbconv)
    with pytest.raises(HwnasError, match="fingerprint"):
        predictor.check_space(create_space("nb201", channels=(8, 16, 32)))
    predictor.check_space(create_space("nb201"))


def test_device_mismatch_errors(records, nb201) -> None:
    predictor = LatencyPredictor(model="lut").fit(records)
    predictor.check_device(records[0].fingerprint)
    other = make_records(nb201, 5, additive_latency(0), device="synthetic-b")
    with pytest.raises(HwnasError, match="cpu_model"):
        predictor.check_device(synthetic_fingerprint("synthetic-b"))
    with pytest.raises(HwnasError, match="different devices"):
        predictor.check_profile(other)
    with pytest.raises(HwnasError, match="'batch'"):
        predictor.check_device(synthetic_fingerprint("synthetic-a", batch=8))


def test_fit_refuses_mixed_records(records, nb201) -> None:
    other = make_records(nb201, 5, additive_latency(0), device="synthetic-b")
    with pytest.raises(HwnasError, match=r"records\[300\].*different devices"):
        LatencyPredictor(model="lut").fit(records + other)
    shifted = [dataclasses.replace(records[0], num_classes=100)]
    with pytest.raises(HwnasError, match=r"records\[1\]\.num_classes: expected 10"):
        LatencyPredictor(model="lut").fit(records[:1] + shifted)
    with pytest.raises(HwnasError, match="fingerprint"):
        LatencyPredictor(model="lut").fit(records, space=create_space("nb201", channels=(8, 8, 8)))


def test_split_records_by_architecture(records) -> None:
    train, test = split_records(records + records[:10], 0.2, seed=3)
    assert not {r.arch for r in train} & {r.arch for r in test}
    assert len({r.arch for r in test}) == 60
    with pytest.raises(HwnasError, match="test_fraction"):
        split_records(records, 1.0, seed=0)


def test_fit_profile_reports_held_out_and_baseline(records, tmp_path) -> None:
    path = write_profile(tmp_path / "p.jsonl", records)
    predictor, metrics = fit_profile(path, model="lut", test_fraction=0.25, seed=1)
    assert metrics["n_test"] == 75 and metrics["n_train"] == 225
    assert metrics["held_out"]["within_10pct"] > 0.95
    base = metrics["baseline_linear_macs"]
    assert base["within_10pct"] < metrics["held_out"]["within_10pct"]
    assert predictor.n_train_ == 300  # refitted on everything
    assert predictor.metrics_ is metrics
