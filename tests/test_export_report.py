"""Export of a run's Pareto set and its report, on a tiny nb201 space and the toy evaluator."""

from __future__ import annotations

import json
import sqlite3

import onnx
import pytest

from hwnas.errors import HwnasError
from hwnas.export import export_run
from hwnas.report import layer_profile, report_run
from hwnas.runs import search

from .search import toy  # noqa: F401  (registers the toy evaluator)

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
def exported(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    run = search(TINY, runs_dir=runs, run_id="r")
    manifest = export_run(run.path, top_k=2, epochs=1, variants=("fp32", "fp16", "int8"))
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
            assert info["measured_latency_ms"] > 0 and 0 <= info["val_accuracy"] <= 1


def test_report_has_plots_tables_layers_and_the_baselines_once_run(exported, capsys) -> None:
    from hwnas.cli import main

    run, manifest = exported
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


def test_a_variant_that_cannot_be_made_is_recorded_and_the_model_kept(tmp_path, monkeypatch):
    import hwnas.export

    real = hwnas.export._variant

    def no_int8(variant, *args):
        if variant == "int8":
            raise ValueError("quantizer says no")
        return real(variant, *args)

    monkeypatch.setattr(hwnas.export, "_variant", no_int8)
    run = search({**TINY, "termination": {"evaluations": 6}}, runs_dir=tmp_path, run_id="v")
    manifest = export_run(run.path, top_k=1, epochs=1, variants=("fp32", "fp16", "int8"))
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


def test_a_budget_no_model_meets_after_training_is_an_error(tmp_path) -> None:
    # The search's (toy) estimate says every model meets accuracy >= 0.99; one epoch of
    # real training on digits does not.
    config = {
        **TINY,
        "budgets": ["accuracy >= 0.99"],
        "termination": {"evaluations": 6},
        "evaluator": {"name": "toy", "offset": 1.0},
    }
    run2 = search(config, runs_dir=tmp_path, run_id="s")
    with pytest.raises(HwnasError, match="no exported model meets the budgets"):
        export_run(run2.path, top_k=1, epochs=1)
    manifest = json.loads((run2.path / "export" / "manifest.json").read_text())
    assert manifest["models"] and not manifest["models"][0]["feasible"]
    assert manifest["models"][0]["broken_budgets"] == ["accuracy >= 0.99"]


def test_missing_and_corrupted_run_folders(tmp_path) -> None:
    with pytest.raises(HwnasError, match="no such run folder"):
        export_run(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(HwnasError, match="not a run folder"):
        report_run(tmp_path / "half")
    run = search(TINY, runs_dir=tmp_path, run_id="r")
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
