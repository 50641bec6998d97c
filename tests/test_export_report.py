"""Export of a run's Pareto set and its report, on a tiny nb201 space and the toy evaluator."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import onnx
import pytest

from hwnas.errors import HwnasError
from hwnas.export import export_run
from hwnas.export.variants import FASTER_MARGIN
from hwnas.report import layer_profile, report_run
from hwnas.runs import search

from .search import toy  # noqa: F401  (registers the toy evaluator)
from .test_export_selection import FAST, fitted_predictor, latency_config, small_digits

TINY = {
    "name": "tiny",
    "seed": 0,
    "space": {"name": "nb201", "channels": [4, 8, 8], "cells_per_stage": 1},
    "data": {"name": "digits"},
    "objectives": ["error", "macs"],
    "budgets": ["macs <= 1e6"],
    "strategy": {"name": "random"},
    "evaluator": {"name": "toy"},
    "termination": {"evaluations": 12},
    "batch_size": 6,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """``TINY`` on the first 300 digits (one epoch of training takes a second)."""
    return {**TINY, "data": {"name": small_digits(tmp_path_factory.mktemp("data"))}}


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    run = search(tiny, runs_dir=runs, run_id="r")
    manifest = export_run(
        run.path, top_k=2, epochs=1, variants=("fp32", "fp16", "int8"), protocol=FAST
    )
    return run.path, manifest


def test_manifest_lists_verified_measured_models(exported) -> None:
    run, manifest = exported
    assert manifest == json.loads((run / "export" / "manifest.json").read_text())
    assert manifest["macs_max"] == 1e6 and manifest["budgets"] == ["macs <= 1e+06"]
    assert len(manifest["models"]) == 2  # the front, filled from the next front if short
    assert [m["search_rank"] for m in manifest["models"]] in ([0, 0], [0, 1], [1, 0])
    assert any(m["pareto"] for m in manifest["models"])
    for model in manifest["models"]:
        path = run / "export" / model["file"]
        proto = onnx.load(path)
        onnx.checker.check_model(proto)
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["hwnas.arch"] == model["arch"]
        # How a deployed model's input is made: the scale as the source had it.
        assert meta["hwnas.input_scale"] == manifest["dataset"]["input_scale"] == "1"
        assert meta["hwnas.preprocess"].startswith("x = (pixels / input_scale - input_mean)")
        assert float(meta["hwnas.measured_latency_ms"]) == pytest.approx(
            model["measured_latency_ms"], rel=1e-5
        )
        assert model["max_abs_diff"] <= 1e-4
        assert model["measured_latency_ms"] > 0
        assert 0 <= model["val_accuracy"] <= 1 and 0 <= model["test_accuracy"] <= 1
        assert model["feasible"] == (model["macs"] <= 1e6) and model["feasible"]
        for variant in ("fp16", "int8"):
            info = model["variants"][variant]
            assert (run / "export" / info["file"]).is_file()
            # Its own figures in its own file (it was converted with fp32's metadata).
            own = {p.key: p.value for p in onnx.load(run / "export" / info["file"]).metadata_props}
            assert own["hwnas.variant"] == variant and own["hwnas.arch"] == model["arch"]
            assert float(own["hwnas.measured_latency_ms"]) == pytest.approx(
                info["measured_latency_ms"], rel=1e-5
            )
            assert float(own["hwnas.val_accuracy"]) == pytest.approx(info["val_accuracy"], abs=1e-6)
            assert own["hwnas.fp32_measured_latency_ms"] == meta["hwnas.measured_latency_ms"]
            assert own["hwnas.fp32_val_accuracy"] == meta["hwnas.val_accuracy"]
            # fp32's feasibility is fp32's: not claimed for the variant in its plain keys.
            assert (
                "hwnas.feasible" not in own and own["hwnas.fp32_feasible"] == meta["hwnas.feasible"]
            )
            assert "hwnas.predicted_latency_ms" not in own
            assert info["measured_latency_ms"] > 0 and 0 <= info["val_accuracy"] <= 1
            assert isinstance(info["parity"], bool) and info["parity_rule"]
            assert info["offered"] == (
                info["parity"]
                and info["measured_latency_ms"]
                <= (1 - FASTER_MARGIN) * model["measured_latency_ms"]
                and info["val_accuracy_drop"] <= 0.005
            )
        # fp16 agrees with fp32 to 1e-2 of the logit scale (the conversion keeps
        # out-of-range constants in fp32).
        assert model["variants"]["fp16"]["parity"]
        offered = [v for v, info in model["variants"].items() if info["offered"]]
        assert (model["deploy"] in offered) if offered else model["deploy"] == "fp32"
        assert model["deploy_reason"] and model["deploy_file"].endswith(".onnx")
        # macs, not latency, is the run's cost: nothing to measure before selection.
        assert model["selection_latency_ms"] is None
    assert manifest["selection"] == "search" and manifest["candidates_measured"] == 0
    assert manifest["calibration"] is None
    assert "speed" in manifest


def test_report_has_plots_tables_layers_and_the_baselines_once_run(
    exported, capsys, monkeypatch
) -> None:
    import hwnas.export
    from hwnas.cli import main

    run, manifest = exported
    real = hwnas.export.measure_latency_ms  # the baselines' timing, with a short protocol
    monkeypatch.setattr(
        hwnas.export, "measure_latency_ms", lambda *a, **k: real(*a, **{**k, **FAST})
    )
    page = report_run(run, baselines=True, layer_runs=3)
    data = json.loads((page.parent / "report.json").read_text())
    assert data["baselines_status"] == "not run" and data["baselines"] == []
    assert "Baselines not run" in page.read_text()
    # The report only reads: the baselines are trained, exported and measured on their own.
    assert not (run / "export" / "baselines.json").exists()

    assert main(["baselines", str(run)]) == 0
    assert "wrote" in capsys.readouterr().out
    baselines = json.loads((run / "export" / "baselines.json").read_text())
    assert baselines["failures"] == [] and baselines["recipe"] == manifest["recipe"]
    for b in baselines["baselines"]:
        assert (run / "export" / b["file"]).is_file() and b["measured_latency_ms"] > 0

    page = report_run(run, baselines=True, layer_runs=3)
    data = json.loads((page.parent / "report.json").read_text())
    assert (page.parent / "pareto.png").stat().st_size > 1000
    assert (page.parent / "hypervolume.png").is_file()
    for model in manifest["models"]:
        assert (page.parent / f"layers-{model['name']}.csv").is_file()
    assert data["baselines_status"] == "done" and data["failures"] == []
    assert {b["name"] for b in data["baselines"]} == {"lenet5", "mobilenetv2", "resnet8"}
    assert all(isinstance(b["dominated"], bool) for b in data["baselines"])
    assert "val_test_gap" in data
    text = page.read_text()
    assert "Exported models" in text and "hand-designed" in text and "Per-layer" in text
    assert "Parts that failed" not in text
    assert "calibration: not recorded" in text and data["calibration"] is None


def test_a_failed_plot_is_listed_and_the_page_still_written(exported, monkeypatch) -> None:
    from hwnas.report import plots

    def broken(*args, **kwargs):
        raise RuntimeError("no canvas today")

    run, _ = exported
    monkeypatch.setattr(plots, "pareto_plot", broken)
    page = report_run(run, layer_runs=3)
    data = json.loads((page.parent / "report.json").read_text())
    assert data["failures"] == [
        {"source": "report", "part": "pareto plot", "error": "RuntimeError: no canvas today"}
    ]
    text = page.read_text()
    assert "The pareto plot failed" in text and "no canvas today" in text
    assert 'src="pareto.png"' not in text and not (page.parent / "pareto.png").exists()
    assert (page.parent / "hypervolume.png").is_file() and "Exported models" in text


def test_a_variant_that_cannot_be_made_is_recorded_and_the_model_kept(tiny, tmp_path, monkeypatch):
    import hwnas.export.run

    real = hwnas.export.run.make_variant

    def no_int8(variant, *args, **kwargs):
        if variant == "int8":
            raise ValueError("quantizer says no")
        return real(variant, *args, **kwargs)

    monkeypatch.setattr(hwnas.export.run, "make_variant", no_int8)
    run = search({**tiny, "termination": {"evaluations": 6}}, runs_dir=tmp_path, run_id="v")
    manifest = export_run(
        run.path, top_k=1, epochs=1, variants=("fp32", "fp16", "int8"), protocol=FAST
    )
    (model,) = manifest["models"]
    assert set(model["variants"]) == {"fp16"}
    assert manifest["failures"] == [
        {"part": f"{model['name']}: int8 variant", "error": "ValueError: quantizer says no"}
    ]
    page = report_run(run.path, layer_runs=3)
    assert "quantizer says no" in page.read_text()


def test_layer_profile_accounts_for_every_conv(exported) -> None:
    run, manifest = exported
    rows = layer_profile(run / "export" / manifest["models"][0]["file"], (1, 8, 8), runs=3)
    assert rows and abs(sum(r["share"] for r in rows) - 1) < 1e-6
    assert any(r["op"] == "Conv" for r in rows)


def test_a_budget_no_model_meets_after_training_is_an_error(tiny, tmp_path) -> None:
    # The search's (toy) estimate says every model meets accuracy >= 0.99; one epoch of
    # real training on digits does not.
    config = {
        **tiny,
        "budgets": ["accuracy >= 0.99"],
        "termination": {"evaluations": 6},
        "evaluator": {"name": "toy", "offset": 1.0},
    }
    run2 = search(config, runs_dir=tmp_path, run_id="s")
    with pytest.raises(HwnasError, match="no exported model meets the budgets"):
        export_run(run2.path, top_k=1, epochs=1, protocol=FAST)
    manifest = json.loads((run2.path / "export" / "manifest.json").read_text())
    assert manifest["models"] and not manifest["models"][0]["feasible"]
    assert manifest["models"][0]["broken_budgets"] == ["accuracy >= 0.99"]


def test_missing_and_corrupted_run_folders(tiny, tmp_path) -> None:
    with pytest.raises(HwnasError, match="no such run folder"):
        export_run(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(HwnasError, match="not a run folder"):
        report_run(tmp_path / "half")
    run = search(tiny, runs_dir=tmp_path, run_id="r")
    (run.path / "run.db").write_bytes(b"garbage" * 100)
    for suffix in ("-wal", "-shm"):
        (run.path / f"run.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(HwnasError, match="SQLite"):
        export_run(run.path)
    assert sqlite3 is not None


def test_unavailable_runtime_is_a_clear_error() -> None:
    from types import SimpleNamespace

    from hwnas.export import target_runtime

    device = SimpleNamespace(runtime="onnxruntime-cuda", threads=1, batch=1)
    with pytest.raises(HwnasError, match="--no-measure"):
        target_runtime(SimpleNamespace(device=device))


#: What the run writes when it checks its predictor (``runs/<id>/calibration.json``).
CALIBRATION = {
    "checked": True,
    "reason": "predictor fitted on another machine",
    "runtime": "slow-fake-cpu",
    "device_id": "cpu-imaginary-0",
    "predictor": "predictor.json",
    "points": 12,
    "action": "rescale",
    "before": {"ratio": 2.0, "spearman": 0.97, "within_10pct": 0.0},
    "after": {"ratio": 1.01, "spearman": 0.97, "within_10pct": 0.92},
    "archs": ["a"] * 12,
    "measured_ms": [0.02] * 12,
    "predicted_ms": [0.01] * 12,
    "passed": True,
    "after_points": {"archs": ["b"] * 12, "measured_ms": [0.02] * 12},
}


def _images(root, shape, n: int = 240) -> str:
    """``n`` images of ``shape`` in 10 classes told apart by their brightness."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 10
    x = np.clip(rng.normal(20 + 22 * y[:, None, None, None], 30, (n, *shape)), 0, 255)
    np.savez(root / "images.npz", x=x.astype(np.uint8), y=y)
    return f"npz:{root / 'images.npz'}"


@pytest.fixture(scope="module", params=[(1, 8, 8), (3, 32, 32)], ids=["8x8", "3x32x32"])
def latency_report(request, tmp_path_factory):
    """A run searched on latency at each input size, exported on the (fake, 2x slower)
    device, with a calibration record and two hand-designed networks, then reported."""
    shape = request.param
    root = tmp_path_factory.mktemp("x".join(map(str, shape)))
    data = small_digits(root) if shape == (1, 8, 8) else _images(root, shape)
    config = latency_config(fitted_predictor(root, shape), data)
    run = search({**config, "termination": {"evaluations": 20}}, runs_dir=root, run_id="l")
    (run.path / "calibration.json").write_text(json.dumps(CALIBRATION))
    manifest = export_run(run.path, top_k=2, epochs=1, protocol=FAST)
    best = max(manifest["models"], key=lambda m: m["test_accuracy"])

    def network(name: str, accuracy: float, ms: float, arch: str | None = None) -> dict:
        return {
            "name": name,
            "arch": arch,
            "val_accuracy": accuracy,
            "test_accuracy": accuracy,
            "measured_latency_ms": ms,
            "macs": 1,
            "params": 1,
            "file": None,
            "error": None,
        }

    baselines = {
        "recipe": manifest["recipe"],
        "seed": 0,
        "measured_on": "slow-fake-cpu",
        "failures": [],
        "baselines": [
            network("as-accurate-slower", best["test_accuracy"], 10 * best["measured_latency_ms"]),
            network("perfect-instant", 1.0, 1e-6),
            # The best model's own network, measured a little faster: not a domination.
            network(
                "copy-of-best",
                best["test_accuracy"],
                0.9 * best["measured_latency_ms"],
                arch=best["arch"],
            ),
        ],
    }
    (run.path / "export" / "baselines.json").write_text(json.dumps(baselines))
    page = report_run(run.path, layer_runs=3)
    return run.path, manifest, best, page


def test_the_report_renders_at_both_input_sizes_with_intervals_and_calibration(
    latency_report, capsys
) -> None:
    from hwnas.cli import main
    from hwnas.cli.export import print_summary

    run, manifest, best, page = latency_report
    print_summary(manifest, str(run))
    out = capsys.readouterr().out
    assert "latency predictor checked on 12 points" in out
    assert "chosen on measured latency: 8 candidates measured" in out
    assert all(m["deploy_file"] in out for m in manifest["models"])
    assert main(["report", str(run), "--layer-runs", "3"]) == 0
    out = capsys.readouterr().out
    assert "as-accurate-slower" in out and "dominated by the Pareto set (within noise)" in out
    assert "perfect-instant" in out and "NOT dominated; dominates" in out
    detail = ("archs", "measured_ms", "predicted_ms", "after_points")
    summary = {k: v for k, v in CALIBRATION.items() if k not in detail}
    assert manifest["calibration"] == summary
    data = json.loads((page.parent / "report.json").read_text())
    assert data["calibration"] == summary and data["failures"] == []
    assert data["selection"]["selection"] == "measured"
    n_test = manifest["dataset"]["sizes"]["test"]
    assert data["split_sizes"]["test"] == n_test
    for model in data["exported"]:
        low, high = model["test_accuracy_ci"]
        assert low <= model["test_accuracy"] <= high and high - low > 1 / n_test
        assert (page.parent / f"layers-{model['name']}.csv").is_file()
    rows = {b["name"]: b for b in data["baselines"]}
    # Same test accuracy, ten times slower: dominated, but only on latency.
    slower = rows["as-accurate-slower"]
    assert slower["dominated"] and best["name"] in slower["dominated_by"]
    assert slower["dominated_within_noise"] and slower["dominates"] == []
    perfect = rows["perfect-instant"]
    assert not perfect["dominated"]
    assert sorted(perfect["dominates"]) == sorted(m["name"] for m in manifest["models"])
    assert perfect["same_network"] == []
    copy = rows["copy-of-best"]
    assert copy["same_network"] == [best["name"]] and best["name"] not in copy["dominates"]
    assert best["name"] not in copy["dominated_by"]
    text = page.read_text()
    # Measured here: how far the machine's speed moved is recorded and said when known.
    assert set(manifest["speed"] or {}) <= {
        "anchor_level_ms",
        "windows",
        "anchor_p10_ms",
        "anchor_p50_ms",
        "anchor_p90_ms",
        "p90_over_p10",
    }
    assert data["speed"] == manifest["speed"]
    if manifest["speed"]:
        assert "Latency figures are at this machine" in text
    assert "latency predictor checked on 12 points" in text and "92 % within ±10 % after" in text
    assert "Chosen on latency measured here" in text and "within noise" in text
    assert f"{best['test_accuracy']:.4f} [" in text and "deploy" in text
    assert (page.parent / "pareto.png").stat().st_size > 1000


def test_wilson_intervals_match_scipy_and_noise_verdicts() -> None:
    from scipy.stats import binomtest

    from hwnas.report.noise import dominates, overlap, wilson_interval

    for k, n in [(95, 100), (360, 360), (0, 270), (351, 360)]:
        expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(k / n, n)
        assert low == pytest.approx(expected.low, abs=1e-9)
        assert high == pytest.approx(expected.high, abs=1e-9)
    assert wilson_interval(0.5, 0) is None
    # 355 and 351 of 360 right: 1.1 points apart, within noise; 355 and 300 are not.
    assert overlap(wilson_interval(355 / 360, 360), wilson_interval(351 / 360, 360))
    assert not overlap(wilson_interval(355 / 360, 360), wilson_interval(300 / 360, 360))
    assert dominates((0.9, 1.0), (0.9, 2.0)) and not dominates((0.9, 1.0), (0.9, 1.0))


def test_calibration_lines_for_every_case() -> None:
    from hwnas.export import calibration_text

    assert calibration_text(None) == "calibration: not recorded"
    unchecked = {"checked": False, "reason": "runtime onnxruntime-cuda is not available"}
    assert calibration_text(unchecked) == (
        "latency predictor not checked: runtime onnxruntime-cuda is not available"
    )
    fine = {**CALIBRATION, "action": "none", "after": None}
    assert calibration_text(fine).endswith("no correction needed")
    assert "ratio 2.00, 0 % within ±10 %" in calibration_text(CALIBRATION)


def test_a_report_before_export_says_so_and_how_to_export(tiny, tmp_path) -> None:
    run = search(tiny, runs_dir=tmp_path, run_id="s")
    page = report_run(run.path).read_text()
    assert "Not exported yet: <code>hwnas export RUN</code>" in page
    assert "Nothing exported" not in page


def test_hwnas_export_takes_the_run_s_export_section_and_checks_its_flags(
    tiny, tmp_path, capsys, monkeypatch
) -> None:
    # `hwnas export RUN` trained 30 epochs, the whole front, fp32 only, whatever the run's
    # export section said; --epochs 0 meant the default; --opset 5 ended in a traceback.
    from hwnas.cli import main

    config = {**tiny, "export": {"top_k": 1, "epochs": 1, "variants": ["fp32", "fp16"]}}
    run = search(config, runs_dir=tmp_path, run_id="e")
    for flags, message in (
        (["--epochs", "0"], "--epochs: expected an integer >= 1, got 0"),
        (["--opset", "5"], "--opset: expected an ONNX opset from 11 to "),
    ):
        assert main(["export", str(run.path), "--no-measure", *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (run.path / "export").exists()
    assert main(["export", str(run.path), "--no-measure", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["recipe"]["epochs"] == 1 and len(manifest["models"]) == 1
    assert set(manifest["models"][0]["variants"]) == {"fp16"}
    # A flag still wins.
    assert main(["export", str(run.path), "--no-measure", "--json", "--variants", "fp32"]) == 0
    assert json.loads(capsys.readouterr().out)["models"][0]["variants"] == {}
    # An earlier export's baselines go with it, and hwnas export says so, also when the new
    # export ends with models that miss a budget (written, then exit 1).
    (run.path / "export" / "baselines.json").write_text("{}")
    assert main(["export", str(run.path), "--no-measure"]) == 0
    assert "the earlier export's baselines went with it" in capsys.readouterr().err
    assert not (run.path / "export" / "baselines.json").exists()
    (run.path / "export" / "baselines.json").write_text("{}")
    import hwnas.export.run as export_module
    from hwnas.errors import BudgetsUnmetError

    monkeypatch.setattr(
        export_module,
        "budgets_unmet",
        lambda manifest, path: BudgetsUnmetError(f"{path}: none meets the budgets", manifest),
    )
    assert main(["export", str(run.path), "--no-measure"]) == 1  # ran; misses the budgets
    err = capsys.readouterr().err
    assert "none meets the budgets" in err and "baselines went with it" in err


def test_a_run_whose_data_moved_is_still_reported_but_not_exported(tmp_path) -> None:
    # The report reads the run: the recorded sizes stand in for the data; export trains,
    # and needs the data itself.
    from hwnas.errors import DataError

    config = {**TINY, "data": {"name": small_digits(tmp_path)}}
    run = search(config, runs_dir=tmp_path, run_id="moved")
    (tmp_path / "digits.npz").rename(tmp_path / "elsewhere.npz")
    with pytest.warns(UserWarning, match=r"digits\.npz: no such file .*what it recorded"):
        page = report_run(run.path)
    data = json.loads((page.parent / "report.json").read_text())
    assert data["split_sizes"] == {"val": 45, "test": 60} and data["evaluated"] > 0
    with pytest.raises(DataError, match=r"digits\.npz: no such file.*put the data back there"):
        export_run(run.path, top_k=1, epochs=1, measure=False)
    # Put back changed (one sample fewer): read, with a warning that it is not the same.
    with np.load(tmp_path / "elsewhere.npz") as kept:
        np.savez(tmp_path / "digits.npz", x=kept["x"][:-1], y=kept["y"][:-1])
    with pytest.warns(UserWarning, match=r"its data changed since the search \(fingerprint"):
        report_run(run.path)


def test_the_per_layer_note_compares_the_nodes_sum_with_the_measured_latency() -> None:
    from hwnas.report.html import _layers_note

    rows = [{"median_us": 2.0}] * 100 + [{"median_us": 48.0}]  # 248 µs over 101 nodes
    many = _layers_note(rows, 0.068)
    assert "101 nodes, 248 µs in all, against 68.0 µs measured" in many and "3.6x" in many
    few = _layers_note([{"median_us": 30.0}, {"median_us": 23.0}], 0.061)
    assert "53 µs in all, against 61.0 µs measured" in few and "x:" not in few
    assert _layers_note(rows, None).endswith("248 µs in all.")


def test_the_calibration_line_gives_the_figure_the_choice_was_made_on() -> None:
    # A user trial read "25 % within ±10 % after (rescale)" next to a detail saying the
    # rescaled predictor did better with 41 % of 29 points: the line now says the latter.
    from hwnas.export import calibration_text

    judged = {
        **CALIBRATION,
        "action": "rescale",
        "after": {"ratio": 1.18, "spearman": 0.9, "within_10pct": 0.25},
        "judged": {
            "rescaled": {"within_10pct": 0.41, "points": 29},
            "refitted": {"within_10pct": 0.30, "points": 30},
        },
    }
    text = calibration_text(judged)
    assert text.endswith(
        "; 41 % of 29 held-out points within ±10 % after (rescale, kept over the re-profile)"
    )
    failed = calibration_text({**judged, "judged": None, "passed": False})
    assert failed.endswith("25 % within ±10 % after (rescale), still off beyond tolerance")
    refit = {**judged, "action": "reprofile"}
    assert "30 % of 30 held-out points" in calibration_text(refit)
    assert "kept over the rescale" in calibration_text(refit)
