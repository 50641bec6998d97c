"""The report's small print: intervals within [0, 1], the deploy and file columns, labels
inside the Pareto plot's frame."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from hwnas.report import html, plots
from hwnas.report.data import RunData
from hwnas.report.noise import wilson_interval


@pytest.mark.parametrize("n", [1, 7, 100, 360, 540, 10_000])
@pytest.mark.parametrize("k", ["none", "one", "all but one", "all"])
def test_wilson_intervals_hold_the_point_and_stay_in_0_1(n, k) -> None:
    right = {"none": 0, "one": 1, "all but one": n - 1, "all": n}[k]
    accuracy = right / n
    low, high = wilson_interval(accuracy, n)
    assert 0.0 <= low <= accuracy <= high <= 1.0


def test_a_perfect_accuracy_has_an_upper_bound_of_exactly_one() -> None:
    # The trial's report.json: 360 of 360 right gave [0.989.., 0.9999999999999999].
    assert wilson_interval(1.0, 360)[1] == 1.0
    assert wilson_interval(0.0, 360)[0] == 0.0


def _model(deploy: str, reason: str) -> dict:
    folder = "01-net"
    files = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}
    return {
        "name": folder,
        "file": f"{folder}/model.onnx",
        "deploy": deploy,
        "deploy_reason": reason,
        "deploy_file": f"{folder}/{files[deploy]}",
        "val_accuracy": 0.97,
        "test_accuracy": 0.98,
        "feasible": True,
        "broken_budgets": [],
    }


def _row(model: dict) -> dict[str, str]:
    return {header: cell(model) for header, cell in html.EXPORTED_COLUMNS}


def test_the_file_column_shows_the_deployed_file() -> None:
    reason = "int8: 1.52x faster than fp32 (0.0100 vs 0.0152 ms), parity passed"
    assert _row(_model("int8", reason))["file"] == "01-net/model.int8.onnx"
    assert _row(_model("fp16", "fp16: 1.10x faster"))["file"] == "01-net/model.fp16.onnx"
    assert _row(_model("fp32", "int8 not faster"))["file"] == "01-net/model.onnx"
    old = _model("fp32", "no variant made")  # a manifest from before variants
    del old["deploy_file"]
    assert _row(old)["file"] == "01-net/model.onnx"


def test_the_deploy_column_names_the_variant_once() -> None:
    reason = "int8: 1.52x faster than fp32 (0.0100 vs 0.0152 ms); fp16 not faster (x)"
    assert _row(_model("int8", reason))["deploy"] == reason
    fp32 = _row(_model("fp32", "int8 not faster (0.0217 vs 0.0161 ms)"))["deploy"]
    assert fp32 == "fp32: int8 not faster (0.0217 vs 0.0161 ms)"
    page = html.render("run", _page_data(_model("int8", reason)), {}, {"pareto": None})
    assert "int8: int8:" not in page and "model.int8.onnx" in page


def _page_data(model: dict) -> dict:
    return {
        "objectives": ["error", "latency_ms"],
        "budgets": [],
        "evaluated": 1,
        "skipped": 0,
        "failed": 0,
        "pareto": [],
        "exported": [model],
        "failures": [],
        "baselines_status": "not shown",
    }


def _run_data(tmp_path: Path, xs: list[float]) -> RunData:
    done = [
        SimpleNamespace(metrics={"accuracy": 0.5 + 0.4 * i / len(xs), "latency_ms": x})
        for i, x in enumerate(xs)
    ]
    return RunData(
        path=tmp_path / "run",
        config=None,
        objectives=("error", "latency_ms"),
        cost="latency_ms",
        budgets=(),
        search_budgets=(),
        candidates=done,
        done=done,
        front=[],
        progress=[],
        versions=None,
        device="cpu",
        manifest=None,
        baselines=None,
        sizes={"val": 270, "test": 360},
        calibration=None,
    )


def test_point_labels_stay_inside_the_pareto_plot(tmp_path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    kept = []
    monkeypatch.setattr(plt, "close", kept.append)  # look at the figure once drawn
    data = _run_data(tmp_path, [0.009, 0.012, 0.02, 0.03])
    # As in the trial: the right-most network (the x axis ends at it) and one at the top.
    baselines = [
        {"name": "lenet5", "test_accuracy": 0.9833, "measured_latency_ms": 0.013},
        {"name": "resnet8", "test_accuracy": 0.9972, "measured_latency_ms": 0.026},
        {"name": "mobilenetv2", "test_accuracy": 0.9833, "measured_latency_ms": 0.045},
    ]
    plots.pareto_plot(data, baselines, tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").is_file()
    (fig,) = kept
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    texts = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    assert set(texts) == {"lenet5", "resnet8", "mobilenetv2"}
    for name, box in texts.items():
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, name
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, name
    # A label that fitted keeps its place right of its marker.
    marker = ax.transData.transform((0.013, 0.9833))
    assert texts["lenet5"].x0 > marker[0]
    plt.close(fig)


def test_a_failed_check_is_not_called_no_correction_needed() -> None:
    # `hwnas predict --check` printed "...; no correction needed: FAILS".
    from hwnas.export.manifest import calibration_text

    base = {"checked": True, "points": 12, "runtime": "cpu", "action": "none"}
    before = {"ratio": 1.4, "within_10pct": 0.2, "spearman": 0.9}
    failed = calibration_text({**base, "before": before, "passed": False})
    assert failed.endswith("; not corrected") and "no correction needed" not in failed
    good = {"ratio": 1.0, "within_10pct": 1.0, "spearman": 1.0}
    assert calibration_text({**base, "before": good, "passed": True}).endswith(
        "; no correction needed"
    )


def test_one_stalled_run_does_not_decide_a_layers_time() -> None:
    from hwnas.report.layers import node_rows

    def event(name: str, op: str, dur: float) -> dict:
        return {"cat": "Node", "name": f"{name}_kernel_time", "dur": dur, "args": {"op_name": op}}

    trace = [event("conv", "Conv", 900.0)]  # the first call: initialisation, left out
    trace += [event("conv", "Conv", 10.0) for _ in range(49)] + [event("conv", "Conv", 12000.0)]
    trace += [event("relu", "Relu", 2.0) for _ in range(51)]
    trace.append({"cat": "Session", "name": "model_run", "dur": 50.0})
    rows = node_rows(trace)
    assert [r["node"] for r in rows] == ["conv", "relu"]
    assert rows[0]["median_us"] == 10.0 and rows[1]["median_us"] == 2.0
    assert abs(rows[0]["share"] - 10 / 12) < 1e-9
