"""A run checks a predictor it did not fit before searching: the result and the predictor
it searched with are in the run folder, a resume keeps them; ``hwnas predict --check``
exits 0 / 1 / 2.

Measurements come from the fake runtime of ``tests/profiling/test_calibration.py`` (latency
a fixed function of the parameters), so the verdicts do not depend on the machine's load.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from hwnas.cli import main
from hwnas.predictors import load_predictor
from hwnas.profiling import calibration
from hwnas.runs import open_run, resume, search
from tests.profiling.test_calibration import FAST, TINY, fit_here, scaled

#: The keys the manifest and the report read.
KEYS = {
    "checked",
    "reason",
    "runtime",
    "device_id",
    "predictor",
    "points",
    "action",
    "before",
    "after",
    "archs",
    "measured_ms",
    "predicted_ms",
}


@pytest.fixture(scope="module")
def predictors(tmp_path_factory):
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("predictors")
    fitted = fit_here(root / "profile", n=16)
    # 200 of the 8x8 digits: the search trains quickly, and the predictors fit the shape.
    digits = load_digits()
    np.savez(
        root / "digits.npz", x=(digits.images[:200] * 15).astype(np.uint8), y=digits.target[:200]
    )
    return {
        "fitted": str(fitted.save(root / "fitted.json")),
        "triple": str(scaled(fitted, 3.0).save(root / "triple.json")),
        "data": str(root / "digits.npz"),
    }


@pytest.fixture
def fast_protocol(monkeypatch):
    """Runs measure with a short protocol (the fake device needs no statistics)."""
    fast = functools.partial(calibration.calibrate, protocol=FAST, refit_model="lut")
    monkeypatch.setattr(calibration, "calibrate", fast)


def config(predictors: dict, name: str, **device) -> dict:
    return {
        "name": "calibrated",
        "space": {
            "name": "mbconv",
            **{k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()},
        },
        "data": {"name": predictors["data"]},
        "device": {
            "predictor": predictors[name],
            "runtime": "fake-cpu",
            "calibration_points": 5,
            "profile_archs": 10,
            **device,
        },
        "objectives": ["error", "latency_ms"],
        "strategy": {"name": "random"},
        "evaluator": {"name": "standalone", "recipe": {"epochs": 1, "threads": 1}},
        "termination": {"evaluations": 2},
        "batch_size": 2,
    }


def test_a_run_rescales_a_predictor_3x_off_searches_with_it_and_resume_keeps_it(
    predictors, fast_protocol, tmp_path
) -> None:
    said: list[str] = []
    run = search(config(predictors, "triple"), runs_dir=tmp_path, run_id="r", log=said.append)
    data = json.loads((run.path / "calibration.json").read_text())
    assert KEYS <= set(data) and data == run.calibration
    assert data["checked"] and data["action"] == "rescale" and data["points"] == 5
    assert data["before"]["ratio"] == pytest.approx(1 / 3, rel=0.02)
    assert data["after"]["within_10pct"] >= 0.8 and data["predictor"] == predictors["triple"]
    assert any("-> rescale" in line for line in said)
    used = load_predictor(run.path / "predictor.json")
    assert used.kind == "calibrated" and data["used"] == str(run.path / "predictor.json")
    fitted = load_predictor(predictors["fitted"])
    # The search predicted with the corrected predictor (about the right latency).
    for candidate in run.result.pareto:
        ms = candidate.metrics["latency_ms"]
        assert ms == pytest.approx(float(used.predict([candidate.arch])[0]))
        assert ms == pytest.approx(float(fitted.predict([candidate.arch])[0]), rel=0.05)
    before = (run.path / "calibration.json").read_bytes()
    again = resume(run.path)
    assert (run.path / "calibration.json").read_bytes() == before and again.calibration == data
    archs = [c.arch for c in run.result.pareto]
    reopened = open_run(run.path).components.predictor
    assert np.allclose(reopened.predict(archs), used.predict(archs))


def test_off_and_a_predictor_fitted_in_this_process_are_not_checked(
    predictors, fast_protocol, tmp_path
) -> None:
    off = search(config(predictors, "triple", calibration="off"), runs_dir=tmp_path, run_id="o")
    assert off.calibration["checked"] is False and off.calibration["action"] == "not checked"
    assert off.calibration["reason"] == "device.calibration is off"
    # Used as is: an exact copy of the given file.
    copy = (off.path / "predictor.json").read_bytes()
    assert copy == Path(predictors["triple"]).read_bytes()
    here = search(config(predictors, "triple"), runs_dir=tmp_path, run_id="f", fitted_here=True)
    assert (
        here.calibration["checked"] is False and "fitted in this run" in here.calibration["reason"]
    )


def test_a_run_measures_every_calibration_point_with_the_profile_protocol(
    predictors, tmp_path, monkeypatch
) -> None:
    from hwnas.config import validate_config

    seen = []
    real = calibration.calibrate

    def spy(*args, **kwargs):
        seen.append((kwargs["protocol"], kwargs["profile_protocol"]))
        return real(*args, **{**kwargs, "refit_model": "lut"})

    monkeypatch.setattr(calibration, "calibrate", spy)
    data = config(predictors, "fitted", profile_protocol={"min_seconds": 0.0, "max_seconds": 0.01})
    search(data, runs_dir=tmp_path, run_id="p")
    profile = validate_config(data).profile_protocol()
    assert profile["max_seconds"] == 0.01 and seen == [(profile, profile)]


def test_a_predictor_for_a_runtime_missing_here_is_used_unchecked(
    predictors, fast_protocol, tmp_path
) -> None:
    run = search(config(predictors, "triple", runtime="fake-gpu"), runs_dir=tmp_path, run_id="g")
    assert run.calibration["checked"] is False and run.calibration["before"] is None
    assert "not available here: no fake GPU" in run.calibration["reason"]


def test_the_calibration_keys_are_validated_by_name() -> None:
    from hwnas.config import validate_config
    from hwnas.errors import ConfigError

    with pytest.raises(ConfigError, match=r"device\.calibration"):
        validate_config({"device": {"calibration": "sometimes"}})
    with pytest.raises(ConfigError, match=r"device\.calibration_points"):
        validate_config({"device": {"calibration_points": 2}})
    with pytest.raises(ConfigError, match=r"device\.calibration_min_within_10pct"):
        validate_config({"device": {"calibration_min_within_10pct": 1.5}})
    device = validate_config({"device": {}}).device
    assert device.calibration == "rescale" and device.calibration_points == 12


def test_a_profile_measures_with_the_run_protocol_capped_by_profile_protocol() -> None:
    from hwnas.config import validate_config
    from hwnas.errors import ConfigError

    default = validate_config({"device": {}})
    assert default.protocol()["min_seconds"] == 1.0 and default.protocol()["max_seconds"] == 5.0
    profile = default.profile_protocol()
    assert (profile["min_seconds"], profile["max_seconds"]) == (0.25, 1.0)
    assert {k: v for k, v in profile.items() if "seconds" not in k} == {
        k: v for k, v in default.protocol().items() if "seconds" not in k
    }
    # Caps only: a run protocol quicker than the caps is kept for the profile too.
    quick = validate_config({"device": {"protocol": {"min_seconds": 0.01, "max_seconds": 0.1}}})
    assert quick.profile_protocol() == quick.protocol()
    with pytest.raises(ConfigError, match=r"device\.profile_protocol\.min_seconds"):
        validate_config({"device": {"profile_protocol": {"min_seconds": 3}}})
    # A maximum under the default minimum is caught here, not in the middle of a profile.
    with pytest.raises(ConfigError, match=r"device\.profile_protocol\.min_seconds.*0\.1"):
        validate_config({"device": {"profile_protocol": {"max_seconds": 0.1}}})
    with pytest.raises(ConfigError, match=r"device\.protocol\.min_seconds.*0\.5"):
        validate_config({"device": {"protocol": {"max_seconds": 0.5}}})
    with pytest.raises(ConfigError, match=r"device\.profile_protocol\.warmup"):
        validate_config({"device": {"profile_protocol": {"warmup": 3}}})


def test_predict_check_exits_0_when_it_agrees_1_when_not_2_on_bad_input(predictors, capsys) -> None:
    assert main(["predict", "--check", predictors["fitted"], "--points", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert KEYS <= set(data) and data["passed"] and data["action"] == "none"
    assert main(["predict", "--check", predictors["triple"], "--points", "3"]) == 1
    out = capsys.readouterr().out
    assert "FAILS" in out and "measured/predicted ratio 0.33" in out
    assert main(["predict", "--check", predictors["fitted"], "--points", "2"]) == 2
    assert main(["predict", "--check", "no-such.json"]) == 2
    assert main(["predict", "--check", predictors["fitted"], "--runtime", "fake-gpu"]) == 2
    assert "not available here" in capsys.readouterr().err
    assert main(["predict", "--points", "3", "--predictor", predictors["fitted"], "x"]) == 2
