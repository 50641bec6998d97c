"""Checking a predictor against this machine: a right one passes, one 3x off is rescaled,
one with scrambled ranks is re-profiled, ``off`` and a missing runtime check nothing.

The "machine" is a fake runtime whose latency is a fixed function of the model's
parameter count, so that the verdicts do not depend on the load of the test machine.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from hwnas.errors import ConfigError, HwnasError
from hwnas.predictors import fit_profile, load_predictor
from hwnas.predictors.calibration import (
    CalibratedPredictor,
    Correction,
    Tolerance,
    agreement,
    fit_correction,
    reference_archs,
)
from hwnas.profiling.calibration import calibrate
from hwnas.profiling.profiler import profile_space
from hwnas.profiling.runtimes import RUNTIMES, Runtime, register_runtime
from hwnas.profiling.store import append_records, read_profile
from hwnas.spaces import create_space
from tests.profiling.test_lut import FAST, TINY

SHAPE = (1, 8, 8)


def fake_ms(params: int) -> float:
    """The fake device's latency: 4 us plus 2 ns per parameter."""
    return 0.004 + 2e-6 * params


class FakeCPU(Runtime):
    """A deterministic device: no inference runs, the latency follows the parameters."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def available(self) -> tuple[bool, str]:
        return True, ""

    def settings(self) -> dict[str, object]:
        return {"threads": self.threads, "fake": True}

    def _prepare(self, model, input_shape, batch, workdir):
        ms = fake_ms(sum(p.numel() for p in model.parameters()))
        return lambda: ms


class FakeGPU(FakeCPU):
    device_kind = "gpu"

    def available(self) -> tuple[bool, str]:
        return False, "no fake GPU on this machine"


class BurstCPU(FakeCPU):
    """The fake CPU with a noisy neighbour: the 7th, 9th and 11th models it prepares (half
    of the first fresh check after 6 reference points) run 1.3x slower."""

    def __init__(self, threads: int = 1) -> None:
        super().__init__(threads)
        self.prepared = 0

    def _prepare(self, model, input_shape, batch, workdir):
        self.prepared += 1
        ms = fake_ms(sum(p.numel() for p in model.parameters()))
        ms *= 1.3 if self.prepared in (7, 9, 11) else 1.0
        return lambda: ms


class NoisyCPU(BurstCPU):
    """The fake CPU on a machine no predictor can follow: the models it prepares run in
    turn 2x slower and 2x faster."""

    def _prepare(self, model, input_shape, batch, workdir):
        self.prepared += 1
        ms = fake_ms(sum(p.numel() for p in model.parameters()))
        ms *= 2.0 if self.prepared % 2 else 0.5
        return lambda: ms


# Registered once even when another test module imports this one under another name.
for _name, _cls in (
    ("fake-cpu", FakeCPU),
    ("fake-gpu", FakeGPU),
    ("burst-cpu", BurstCPU),
    ("noisy-cpu", NoisyCPU),
):
    if _name not in RUNTIMES:
        register_runtime(_name)(_cls)


def fit_here(root: Path, n: int = 20, scramble: bool = False):
    """A predictor fitted on ``n`` architectures profiled on the fake CPU; with
    ``scramble``, on the same profile with its latencies given in reverse rank order."""
    space = create_space("mbconv", **TINY)
    run = profile_space(
        space, RUNTIMES.create("fake-cpu"), n=n, input_shape=SHAPE, num_classes=10,
        root=root, protocol=FAST,
    )  # fmt: skip
    path = run.path
    if scramble:
        records = sorted(read_profile(path), key=lambda r: r.median_ms)
        latencies = [r.latency_ms for r in reversed(records)]
        path = root / "scrambled.jsonl"
        append_records(
            path,
            [
                r.__class__(**{**vars(r), "latency_ms": ms})
                for r, ms in zip(records, latencies, strict=True)
            ],
        )
        predictor, _ = fit_profile(path, model="rf", space=space, cv=2)
        return predictor
    predictor, _ = fit_profile(path, model="lut", features=["costs"], space=space, cv=2)
    return predictor


def scaled(predictor, factor: float) -> CalibratedPredictor:
    """``predictor`` with every prediction multiplied by ``factor``."""
    return CalibratedPredictor.wrap(predictor, Correction("scale", math.log(factor), 1.0, {}))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    return fit_here(tmp_path_factory.mktemp("profile"))


def run_check(predictor, tmp_path, **kwargs):
    options = {"points": 6, "protocol": FAST, "profile_archs": 10, "refit_model": "lut"}
    options["workdir"] = tmp_path
    return calibrate(
        predictor, RUNTIMES.create(kwargs.pop("runtime", "fake-cpu")), **{**options, **kwargs}
    )


# -- the figures and the correction ------------------------------------------------------


def test_agreement_reports_ratio_ranks_and_share_within_10pct() -> None:
    figures = agreement([1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 1.5, 3.9])
    assert figures["ratio"] == pytest.approx(2.0)
    assert figures["spearman"] == pytest.approx(1.0)
    assert figures["within_10pct"] == 0.25
    assert agreement([1.0, 1.0], [1.0, 1.0])["spearman"] is None


def test_a_constant_factor_is_fitted_as_a_scale_and_a_power_law_as_log_linear() -> None:
    p = np.geomspace(0.01, 1.0, 12)
    noise = np.exp(0.02 * np.sin(np.arange(12) * 2.0))
    scale = fit_correction(p, 3 * p * noise)
    assert scale.form == "scale" and scale.slope == 1.0
    assert np.allclose(scale.apply(p), 3 * p, rtol=0.03)
    power = fit_correction(p, 2 * p**1.4 * noise)
    assert power.form == "log-linear" and power.slope == pytest.approx(1.4, abs=0.05)
    with pytest.raises(HwnasError, match="form: expected one of"):
        fit_correction(p, p, "cubic")


def test_a_calibrated_predictor_is_a_safe_loadable_predictor_file(fitted, tmp_path) -> None:
    triple = scaled(fitted, 3.0)
    archs = reference_archs(fitted, 5, seed=1)
    assert np.allclose(triple.predict(archs), 3 * fitted.predict(archs))
    path = triple.save(tmp_path / "p.json")
    data = json.loads(path.read_text())
    assert data["kind"] == "calibrated" and data["base"]["kind"] == "latency"
    loaded = load_predictor(path)
    assert isinstance(loaded, CalibratedPredictor)
    assert np.allclose(loaded.predict(archs), triple.predict(archs))
    data["correction"]["log_slope"] = "steep"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(HwnasError, match=r"correction\.log_slope: expected a number"):
        load_predictor(tmp_path / "bad.json")


def test_reference_points_spread_over_the_predicted_range_and_repeat_for_a_seed(fitted) -> None:
    archs = reference_archs(fitted, 8, seed=3)
    assert [str(a) for a in archs] == [str(a) for a in reference_archs(fitted, 8, seed=3)]
    assert len({str(a) for a in archs}) == 8
    ms = fitted.predict(archs)
    pool = fitted.predict(fitted.space().sample(np.random.default_rng(0)) for _ in range(300))
    assert ms.min() <= np.quantile(pool, 0.02) and ms.max() >= np.quantile(pool, 0.98)
    fresh = reference_archs(fitted, 8, seed=4, exclude=archs)
    assert not {str(a) for a in fresh} & {str(a) for a in archs}
    capped = fitted.predict(reference_archs(fitted, 8, seed=3, max_ms=float(np.median(pool))))
    assert capped.max() <= np.quantile(pool, 0.6)


# -- the policies ------------------------------------------------------------------------


def test_a_predictor_fitted_on_this_machine_passes(fitted, tmp_path) -> None:
    result = run_check(fitted, tmp_path, predictor_path="fitted.json")
    assert result.checked and result.action == "none" and result.passed
    assert result.after is None and result.corrected is None
    out = result.to_dict()
    assert out["before"]["within_10pct"] == 1.0 and out["before"]["ratio"] == pytest.approx(1.0)
    assert len(out["archs"]) == len(out["measured_ms"]) == len(out["predicted_ms"]) == 6
    assert out["predictor"] == "fitted.json" and out["runtime"] == "fake-cpu"
    assert out["device_id"] == fitted.device_id_ and "calibration: 6 points" in result.lines()[0]


def test_a_predictor_3x_off_is_detected_and_rescaled(fitted, tmp_path) -> None:
    result = run_check(scaled(fitted, 3.0), tmp_path)
    before = result.to_dict()["before"]
    assert before["ratio"] == pytest.approx(1 / 3, rel=0.02) and before["within_10pct"] == 0.0
    assert result.action == "rescale" and result.passed
    after = result.to_dict()["after"]
    assert after["within_10pct"] >= 0.8 and after["ratio"] == pytest.approx(1.0, abs=0.05)
    # Checked on fresh architectures, not on the points the correction was fitted on.
    assert not set(result.after.archs) & set(result.before.archs)
    archs = reference_archs(fitted, 6, seed=9)
    assert np.allclose(result.corrected.predict(archs), fitted.predict(archs), rtol=0.05)
    # The correction used from now on is refitted on all 12 points (the figures after stay
    # those of the fit on the 6 reference points, held out).
    assert result.refitted_on == result.corrected.n_train_ == 12
    assert result.to_dict()["refitted_on"] == 12 and "refitted on all 12 points" in result.reason
    every = result.before.archs + result.after.archs
    by_hand = CalibratedPredictor().fit(
        scaled(fitted, 3.0), every, result.before.measured_ms + result.after.measured_ms
    )
    assert np.allclose(result.corrected.predict(archs), by_hand.predict(archs))


def test_a_passing_check_with_a_clear_median_bias_scales_the_predictions(fitted, tmp_path) -> None:
    # 6 % slow: within the 10 % tolerance, but a bias, not noise (the fake device has none).
    result = run_check(scaled(fitted, 1.06), tmp_path / "a")
    assert result.passed and result.action == "scale" and result.after is None
    assert result.to_dict()["before"]["ratio"] == pytest.approx(1 / 1.06, rel=0.01)
    archs = reference_archs(fitted, 6, seed=9)
    assert np.allclose(result.corrected.predict(archs), fitted.predict(archs), rtol=0.01)
    assert "scaled" in result.reason
    # 2 % off is left alone, and so is any bias with policy check.
    assert run_check(scaled(fitted, 1.02), tmp_path / "b").action == "none"
    assert run_check(scaled(fitted, 1.06), tmp_path / "c", policy="check").corrected is None


def test_a_fresh_check_spoilt_by_chance_gets_a_second_round_not_a_re_profile(tmp_path) -> None:
    # Fitted and checked on the burst CPU (same device as far as fingerprints go).
    predictor = scaled(fit_here(tmp_path / "fit", n=20), 3.0)
    runtime = RUNTIMES.create("burst-cpu")
    result = calibrate(
        predictor, runtime, points=6, protocol=FAST, profile_archs=10, refit_model="lut",
        workdir=tmp_path / "check", check_device=False,
    )  # fmt: skip
    first, second = result.attempts
    assert first["action"] == second["action"] == "rescale"
    assert first["fitted_on"] == 6 and first["checked_on"]["within_10pct"] < 0.8
    assert second["fitted_on"] == 12 and second["checked_on"]["within_10pct"] >= 0.8
    assert result.action == "rescale" and result.passed and result.profile is None
    assert "round 2" in result.reason and runtime.prepared == 18
    assert result.refitted_on == 18  # the spoilt round's points too, at the end
    assert result.to_dict()["attempts"] == result.attempts


def _noisy_calibration(runtime: str, tmp_path):
    predictor = scaled(fit_here(tmp_path / "fit", n=20), 3.0)
    return calibrate(
        predictor, RUNTIMES.create(runtime), points=6, protocol=FAST, profile_archs=30,
        refit_model="lut", workdir=tmp_path / "check", check_device=False,
        tolerance=Tolerance(min_spearman=-1.0),  # ranks count as agreeing: rescale first
    )  # fmt: skip


def test_a_re_profile_that_does_clearly_worse_than_the_rescale_stops_after_its_first_third(
    tmp_path, monkeypatch
) -> None:
    # With no slack, any fit on the first third counts as clearly worse.
    monkeypatch.setattr("hwnas.profiling.calibration.REPROFILE_SLACK", 0.0)
    result = _noisy_calibration("noisy-cpu", tmp_path)
    actions = [a["action"] for a in result.attempts]
    assert actions == ["rescale", "rescale", "reprofile"], json.dumps(result.attempts)
    assert result.attempts[1]["checked_on"]["within_10pct"] < 0.8
    # The reference points and every third of the 30 sampled: the rest never measured.
    assert len(read_profile(result.profile)) == result.attempts[2]["fitted_on"] <= 6 + 10
    assert result.action == "rescale" and result.corrected is not None
    assert result.to_dict()["after"] == result.attempts[1]["checked_on"]
    assert "did clearly worse" in result.reason
    # Kept, its correction refitted on every architecture measured: reference, both fresh
    # rounds and the re-profile's first third.
    assert result.refitted_on == result.attempts[2]["fitted_on"] + 12


def test_the_re_profile_measures_with_the_profile_protocol(fitted, tmp_path, monkeypatch) -> None:
    import hwnas.profiling.calibration as calibration_module

    seen = []
    real = calibration_module.reprofile

    def spy(*args, **kwargs):
        seen.append(kwargs["protocol"])
        return real(*args, **kwargs)

    monkeypatch.setattr(calibration_module, "reprofile", spy)
    quick = {**FAST, "min_seconds": 0.0, "max_seconds": 0.005}
    result = calibrate(
        scaled(fitted, 3.0), RUNTIMES.create("fake-cpu"), points=6, protocol=FAST,
        profile_protocol=quick, policy="reprofile", profile_archs=12, refit_model="lut",
        workdir=tmp_path, check_device=False,
    )  # fmt: skip
    assert result.action == "reprofile" and seen == [quick]


def test_a_re_profile_that_is_merely_no_better_after_its_first_third_goes_on(tmp_path) -> None:
    # A fit on a third of the sample errs more than the fit on all of it: on a machine no
    # predictor follows (2x slower and faster in turn) the re-profile is still completed.
    result = _noisy_calibration("noisy-cpu", tmp_path)
    actions = [a["action"] for a in result.attempts]
    assert actions == ["rescale", "rescale", "reprofile", "reprofile"], json.dumps(actions)
    first_third, whole = result.attempts[2]["fitted_on"], result.attempts[3]["fitted_on"]
    assert first_third <= 6 + 10 and whole == 30
    assert len(read_profile(result.profile)) >= whole > first_third
    assert "clearly worse" not in result.reason
    # Then kept or dropped on more than the 6 fresh points: the refit's held-out fifth of
    # the profile, and every re-profiled architecture the rescale was not fitted on.
    judged = result.to_dict()["judged"]
    profiled = len(read_profile(result.profile))
    assert judged["refitted"]["points"] == 6 + round(0.2 * profiled)
    # The rescaled one: the re-profiled architectures but the 6 reference points, and the
    # 6 fresh points.
    assert judged["rescaled"]["points"] == (profiled - 6) + 6
    rescaled_won = judged["rescaled"]["within_10pct"] > judged["refitted"]["within_10pct"]
    assert result.action == ("rescale" if rescaled_won else "reprofile") or (
        judged["rescaled"]["within_10pct"] == judged["refitted"]["within_10pct"]
    )
    assert f"of {judged['refitted']['points']}" in result.reason


def test_the_staged_re_profile_measures_the_profilers_own_sample(fitted, tmp_path) -> None:
    from hwnas.profiling.corrections import REPROFILE_STAGE, reprofile

    runtime = RUNTIMES.create("fake-cpu")
    options = dict(batch=1, seed=0, model="lut", protocol=FAST, progress=False)
    seen: list[int] = []

    def go_on(refit, n) -> bool:
        seen.append(n)
        return refit.kind == "latency"

    _, path, complete = reprofile(
        fitted, runtime, n=12, root=tmp_path / "a", go_on=go_on, **options
    )
    assert complete and seen == [12 // REPROFILE_STAGE]
    staged = {r.arch for r in read_profile(path)}
    _, path, complete = reprofile(fitted, runtime, n=12, root=tmp_path / "b", **options)
    assert complete and {r.arch for r in read_profile(path)} == staged and len(staged) == 12
    _, path, complete = reprofile(
        fitted, runtime, n=12, root=tmp_path / "c", go_on=lambda *_: False, **options
    )
    assert not complete and len(read_profile(path)) == 12 // REPROFILE_STAGE


def test_reprofile_always_refits_when_the_check_fails(fitted, tmp_path) -> None:
    result = run_check(scaled(fitted, 3.0), tmp_path, policy="reprofile")
    assert result.action == "reprofile" and result.corrected.kind == "latency"
    assert Path(result.profile).is_file() and Path(result.profile).is_relative_to(tmp_path)
    assert result.to_dict()["after"]["within_10pct"] >= 0.8


def test_scrambled_ranks_make_rescale_re_profile(tmp_path) -> None:
    scrambled = fit_here(tmp_path / "scrambled", n=12, scramble=True)
    result = run_check(scrambled, tmp_path / "check")
    before = result.to_dict()["before"]
    assert before["spearman"] is None or before["spearman"] < 0.8
    assert result.action == "reprofile" and "ranks disagree" in result.reason
    # The re-profile holds the reference points and profile_archs more architectures.
    records = read_profile(result.profile)
    assert {str(a) for a in result.before.archs} <= {r.arch for r in records}
    assert len(records) >= 10
    assert result.to_dict()["after"]["within_10pct"] > before["within_10pct"]


def test_off_and_an_unavailable_runtime_check_nothing(fitted, tmp_path) -> None:
    off = run_check(scaled(fitted, 3.0), tmp_path, policy="off")
    assert (
        not off.checked
        and off.action == "not checked"
        and off.reason == "device.calibration is off"
    )
    gpu = run_check(fitted, tmp_path, runtime="fake-gpu")
    assert not gpu.checked and "no fake GPU on this machine" in gpu.reason
    out = gpu.to_dict()
    assert out["before"] is None and out["after"] is None and out["archs"] == []
    assert not list(tmp_path.iterdir())  # nothing measured


def test_a_predictor_of_another_device_fingerprint_is_not_checked(fitted, tmp_path) -> None:
    other = calibrate(fitted, RUNTIMES.create("fake-cpu", threads=2), points=4, protocol=FAST)
    assert not other.checked and "'runtime_settings' differs" in other.reason
    # Unless asked to compare with this runtime whatever the predictor's device.
    forced = calibrate(
        fitted, RUNTIMES.create("fake-cpu", threads=2), points=4, protocol=FAST, check_device=False
    )
    assert forced.checked and forced.passed


def test_bad_arguments_are_refused_by_name(fitted) -> None:
    with pytest.raises(ConfigError, match="policy"):
        calibrate(fitted, RUNTIMES.create("fake-cpu"), policy="sometimes")
    with pytest.raises(ConfigError, match="points"):
        calibrate(fitted, RUNTIMES.create("fake-cpu"), points=2)
    assert not Tolerance().passes({"ratio": 1.2, "within_10pct": 1.0, "spearman": 1.0})
