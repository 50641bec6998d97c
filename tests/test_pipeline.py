"""``hwnas run`` end to end on a tiny mbconv space: search, export, baselines, report; a
baseline that fails is listed everywhere and the rest of the job goes on."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from hwnas.nn import handmade
from hwnas.pipeline import run_pipeline

TINY = {
    "name": "tiny-pipeline",
    "seed": 0,
    "space": {
        "name": "mbconv",
        "stage_channels": [8, 16],
        "stage_strides": [2, 2],
        "depths": [1, 2],
        "kernels": [3, 5],
        "expands": [1, 3],
        "widths": [1.0],
        "activations": ["relu"],
        "se": [False],
        "stem_channels": 8,
        "head_channels": 16,
    },
    "data": {"name": "digits"},
    "objectives": ["error", "macs"],
    "budgets": ["macs <= 1e6"],
    "strategy": {"name": "random"},
    "evaluator": {"name": "supernet", "accuracy_slack": 0.05},
    "supernet": {"epochs": 1, "num_random": 0, "batch_size": 64},
    "termination": {"evaluations": 6},
    "batch_size": 6,
    "export": {"top_k": 2, "epochs": 1, "variants": ["fp32"], "report_baselines": True},
}
#: A device section that profiles 10 architectures briefly.
PROFILE_QUICKLY = {
    "runtime": "onnxruntime-cpu",
    "profile_archs": 10,
    "profile_protocol": {"min_seconds": 0.0, "max_seconds": 0.2},
}


def _dirs(tmp_path) -> dict:
    """Where ensure_predictor puts profiles and predictors in a test."""
    return {"profiles_dir": tmp_path / "profiles", "predictors_dir": tmp_path / "predictors"}


#: ``device.protocol`` for the tests that measure: a few calls per latency.
QUICK = {"warmup": 1, "min_repeats": 3, "max_repeats": 5, "max_seconds": 0.2, "min_seconds": 0.0}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    def broken(shape, classes):
        raise RuntimeError("no such network today")

    runs = tmp_path_factory.mktemp("runs")
    said: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(handmade.HANDMADE, "mobilenetv2", broken)
        out = run_pipeline(TINY, runs_dir=runs, run_id="p", log=said.append)
    return out, said


def test_the_run_exports_verified_models(result) -> None:
    out, _ = result
    run = Path(out.run)
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    assert manifest == out.manifest
    assert manifest["space"] == "mbconv" and manifest["recipe"]["epochs"] == 1
    assert 1 <= len(manifest["models"]) <= 2 and manifest["failures"] == []
    for model in manifest["models"]:
        onnx.checker.check_model(onnx.load(run / "export" / model["file"]))
        assert model["feasible"] and model["macs"] <= 1e6
        assert model["measured_latency_ms"] > 0 and model["max_abs_diff"] <= 1e-4
    summary = out.to_dict()
    assert summary["exported"] == len(manifest["models"]) == summary["feasible"]
    assert summary["baselines"] == str(run / "export" / "baselines.json")


def test_the_baselines_come_out_but_the_one_that_failed(result) -> None:
    out, said = result
    run = Path(out.run)
    baselines = json.loads((run / "export" / "baselines.json").read_text())
    assert baselines["recipe"] == out.manifest["recipe"] and baselines["seed"] == 0
    rows = {b["name"]: b for b in baselines["baselines"]}
    assert set(rows) == {"lenet5", "mobilenetv2", "resnet8"}
    assert rows["mobilenetv2"]["error"].endswith("RuntimeError: no such network today")
    for name in ("lenet5", "resnet8"):
        assert rows[name]["error"] is None and rows[name]["measured_latency_ms"] > 0
        assert (run / "export" / rows[name]["file"]).is_file()
    failure = {
        "part": "baseline mobilenetv2: build",
        "error": "RuntimeError: no such network today",
    }
    assert baselines["failures"] == [failure]
    assert out.failures == [{"source": "baselines", **failure}]
    assert any("baseline mobilenetv2: build failed" in line for line in said)


def test_the_run_says_how_its_search_ended(result) -> None:
    _, said = result
    ended = [line for line in said if line.startswith("search: ")]
    assert len(ended) == 1 and "6 evaluations in" in ended[0]
    assert "stopped by evaluations" in ended[0] and "on its Pareto front" in ended[0]


def test_the_report_shows_models_baselines_and_the_failure(result) -> None:
    out, _ = result
    page = Path(out.report)
    assert page.is_file() and (page.parent / "pareto.png").stat().st_size > 1000
    data = json.loads((page.parent / "report.json").read_text())
    assert data["baselines_status"] == "done" and data["evaluated"] == 6
    assert len(data["exported"]) == len(out.manifest["models"])
    verdicts = {b["name"]: b["dominated"] for b in data["baselines"]}
    assert verdicts["mobilenetv2"] is None
    assert isinstance(verdicts["lenet5"], bool) and isinstance(verdicts["resnet8"], bool)
    assert data["failures"] == out.failures
    text = page.read_text()
    assert "Exported models" in text and "Against hand-designed networks" in text
    assert "Parts that failed" in text and "no such network today" in text


def test_budgets_no_model_meets_still_leave_a_report(tmp_path) -> None:
    from hwnas.errors import HwnasError

    # One epoch of training does not reach 99 % on digits: export flags every model.
    config = {
        **TINY,
        "budgets": ["accuracy >= 0.99"],
        "evaluator": {"name": "supernet", "accuracy_slack": 0.99},
        "export": {**TINY["export"], "top_k": 1, "report_baselines": False},
    }
    with pytest.raises(HwnasError, match=r"no exported model meets the budgets.*report: .*html"):
        run_pipeline(config, runs_dir=tmp_path, run_id="q")
    report = tmp_path / "q" / "report"
    text = (report / "index.html").read_text()
    assert "NO: accuracy &gt;= 0.99" in text and "Baselines not run" not in text
    assert json.loads((report / "report.json").read_text())["baselines_status"] == "not shown"
    assert not (tmp_path / "q" / "export" / "baselines.json").exists()


def test_a_search_that_finds_nothing_feasible_says_how_close_it_came_and_leaves_a_report(
    tmp_path,
) -> None:
    from hwnas.errors import NothingFeasibleError

    # One supernet epoch's estimates are far under 99 % (94 % with the slack): nothing is
    # feasible.
    config = {**TINY, "budgets": ["accuracy >= 0.99", "macs <= 1e6"]}
    with pytest.raises(NothingFeasibleError) as caught:
        run_pipeline(config, runs_dir=tmp_path, run_id="n")
    text = str(caught.value)
    assert "no evaluated candidate meets every budget (6 evaluated" in text
    assert "accuracy >= 0.99 (0.94 as searched): best 0." in text and ", 0 of 6 meet it" in text
    assert "macs <= 1e+06: best" in text and "termination.evaluations" in text
    assert text.endswith("index.html") and "report: " in text
    report = json.loads((tmp_path / "n" / "report" / "report.json").read_text())
    assert report["exported"] == [] and not (tmp_path / "n" / "export" / "manifest.json").exists()
    page = (tmp_path / "n" / "report" / "index.html").read_text()
    assert "Nothing exported: no evaluated candidate met every budget" in page


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["28x28", "3x32x32"])
def test_the_main_job_runs_end_to_end_at_other_input_sizes(tmp_path, monkeypatch, shape) -> None:
    """Profile this CPU, fit, search under a latency budget, export, baselines and report
    at MNIST's and CIFAR's input sizes (the 28x28 run once ended in a traceback); every
    latency is measured by the config's ``device.protocol``."""
    import numpy as np

    import hwnas.profiling.protocol as protocol
    from hwnas.data import load_dataset

    measured: list[dict] = []
    real = protocol.measure

    def spy(run_once, **kwargs):
        measured.append(kwargs)
        return real(run_once, **kwargs)

    monkeypatch.setattr(protocol, "measure", spy)

    digits = load_dataset("digits")
    c, h, w = shape
    x = digits.train.x[:200, 0]
    big = np.kron(x, np.ones((1, -(-h // 8), -(-w // 8))))[:, :h, :w]  # upsampled digits
    images = np.repeat(big[:, None], c, axis=1) if c > 1 else big
    np.savez(tmp_path / "data.npz", x=images.astype(np.float32), y=digits.train.y[:200])
    config = {
        **TINY,
        "name": f"tiny-{h}x{w}",
        "data": {"name": f"npz:{tmp_path / 'data.npz'}"},
        "device": {"runtime": "onnxruntime-cpu", "profile_archs": 10, "protocol": QUICK},
        "objectives": ["error", "latency_ms"],
        "budgets": ["latency_ms <= 10"],
        "export": {**TINY["export"], "top_k": 1},
    }
    out = run_pipeline(
        config,
        runs_dir=tmp_path / "runs",
        run_id="r",
        profiles_dir=tmp_path / "profiles",
        predictors_dir=tmp_path / "predictors",
    )
    (model,) = out.manifest["models"]
    assert model["measured_latency_ms"] > 0 and model["feasible"]
    baselines = json.loads((Path(out.run) / "export" / "baselines.json").read_text())
    assert baselines["failures"] == [] and out.failures == []
    assert all(b["measured_latency_ms"] > 0 for b in baselines["baselines"])
    assert out.report is not None and Path(out.report).is_file()
    # The predictor fitted here, and the run's own copy that the search used.
    assert out.predictor and Path(out.predictor).is_relative_to(tmp_path / "predictors")
    assert out.predictor_used == str(Path(out.run) / "predictor.json")
    assert Path(out.predictor_used).read_bytes() == Path(out.predictor).read_bytes()
    # The profile (10), export's candidates and model, and the three baselines.
    assert len(measured) >= 10 + 2 + 3
    assert all(m["max_repeats"] == 5 and m["min_seconds"] == 0.0 for m in measured)


def test_a_dataset_with_another_number_of_classes_gets_its_own_profile_and_predictor(
    tmp_path, monkeypatch
) -> None:
    # Seen at 224x224: an image folder of 5 classes on a device whose shipped profile is of
    # 10 classes; the 5-class records were appended to the shipped profile, which then
    # failed to read ("num_classes 5 differs from 10").
    import numpy as np

    from hwnas.config import validate_config
    from hwnas.data import load_dataset
    from hwnas.errors import HwnasError
    from hwnas.pipeline import ensure_predictor
    from hwnas.predictors import load_predictor
    from hwnas.profiling.profiler import profile_space
    from hwnas.profiling.runtimes import runtime_with_threads
    from hwnas.spaces import create_space

    digits = load_dataset("digits")
    keep = digits.train.y < 5
    np.savez(tmp_path / "five.npz", x=digits.train.x[keep][:150], y=digits.train.y[keep][:150])
    quick, dirs = PROFILE_QUICKLY, _dirs(tmp_path)
    ten = validate_config({**TINY, "device": quick})
    ten_predictor, ten_profile, _ = ensure_predictor(ten, **dirs)
    assert ten_profile is not None
    before = Path(ten_profile).read_bytes(), Path(ten_predictor).read_bytes()
    five = validate_config(
        {**TINY, "data": {"name": f"npz:{tmp_path / 'five.npz'}"}, "device": quick}
    )
    predictor, profile, _ = ensure_predictor(five, **dirs)
    assert profile is not None and profile.endswith("-5classes.jsonl")
    assert predictor.endswith("-5classes.json") and Path(predictor).is_file()
    assert (Path(ten_profile).read_bytes(), Path(ten_predictor).read_bytes()) == before
    # Found again the next time, not profiled anew; the 10-class one as well.
    assert ensure_predictor(five, **dirs) == (predictor, None, None)
    assert ensure_predictor(ten, **dirs)[:2] == (ten_predictor, None)
    # `hwnas profile` (profile_space with no stem) puts 5-class models in the 5-class
    # file; into the 10-class file by name, they are refused. Either way it is untouched.
    space = create_space("mbconv", **{k: v for k, v in TINY["space"].items() if k != "name"})
    runtime = runtime_with_threads("onnxruntime-cpu", 1)
    common = {"input_shape": (1, 8, 8), "num_classes": 5, "root": tmp_path / "profiles"}
    run = profile_space(space, runtime, n=2, protocol=QUICK, **common)
    assert str(run.path) == profile
    with pytest.raises(HwnasError, match="models with 10 classes; these have 5"):
        profile_space(space, runtime, n=2, protocol=QUICK, stem=space.file_stem, **common)
    assert Path(ten_profile).read_bytes() == before[0]
    # `hwnas fit` (save with no path) does the same with the predictor file.
    monkeypatch.chdir(tmp_path)
    saved = load_predictor(predictor).save()
    assert saved == Path("predictors") / Path(predictor).relative_to(dirs["predictors_dir"])
    assert Path(ten_predictor).read_bytes() == before[1]


def test_a_predictor_that_cannot_be_used_is_moved_aside_and_an_old_profile_is_checked(
    tmp_path,
) -> None:
    # A predictor of a newer hwnas at predictors/<device-id>/ was written over with no word,
    # and the refit on the profile measured before was called "fitted on a fresh profile":
    # not checked against this machine.
    from hwnas.config import validate_config
    from hwnas.pipeline import _measured_now, ensure_predictor

    quick, dirs = PROFILE_QUICKLY, _dirs(tmp_path)
    config = validate_config({**TINY, "device": quick})
    path, profile, metrics = ensure_predictor(config, **dirs)
    assert profile is not None and _measured_now(metrics)
    future = json.loads(Path(path).read_text())
    future["format_version"] = 99
    Path(path).write_text(json.dumps(future))
    said: list[str] = []
    again, profile, metrics = ensure_predictor(config, **dirs, log=said.append)
    assert again == path and profile is not None
    (aside,) = Path(path).parent.glob("*.replaced-*.json")
    assert json.loads(aside.read_text()) == future  # kept as it was
    assert len(said) == 2 and said[0].startswith(f"{path}: it cannot be used (")
    assert said[1] == f"{path}: the one that could not be used moved to {aside}"
    # Refitted on the profile measured before, nothing measured now: to be checked.
    assert metrics is not None and metrics["profile"]["measured"] == 0
    assert not _measured_now(metrics)


def test_hwnas_search_uses_this_machines_predictor_as_hwnas_run_would(tmp_path, capsys) -> None:
    import yaml

    from hwnas.cli import main
    from hwnas.config import validate_config
    from hwnas.pipeline import ensure_predictor

    config = {
        **TINY,
        "device": {**PROFILE_QUICKLY, "calibration": "off"},
        "objectives": ["error", "latency_ms"],
        "budgets": [],
        "evaluator": {"name": "standalone", "recipe": {"epochs": 1}},
        "termination": {"evaluations": 2},
        "batch_size": 2,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["search", str(path), "--runs-dir", str(tmp_path / "runs"), "--run-id", "s"]
    where = ["--predictors-dir", str(tmp_path / "predictors")]
    assert main([*args, *where]) == 2  # none fits yet: hwnas run would make one
    err = capsys.readouterr().err
    hint = f"'hwnas run {path} --predictors-dir {tmp_path / 'predictors'}' profiles this machine"
    assert "device.predictor" in err and hint in err
    assert not (tmp_path / "runs" / "s").exists()
    made, _, _ = ensure_predictor(validate_config(config), **_dirs(tmp_path))
    assert main([*args, *where]) == 0
    assert f"latency predictor: {made} (this machine's" in capsys.readouterr().err
    saved = yaml.safe_load((tmp_path / "runs" / "s" / "config.yaml").read_text())
    assert saved["device"]["predictor"] == made


def test_an_existing_run_folder_is_refused_before_the_device_is_profiled(tmp_path) -> None:
    from hwnas.errors import ConfigError, HwnasError

    (tmp_path / "runs" / "taken").mkdir(parents=True)
    config = {**TINY, "objectives": ["error", "latency_ms"], "device": PROFILE_QUICKLY}
    with pytest.raises(HwnasError, match=r"run folder .*taken exists already"):
        run_pipeline(config, runs_dir=tmp_path / "runs", run_id="taken", **_dirs(tmp_path))
    assert not (tmp_path / "profiles").exists() and not (tmp_path / "predictors").exists()
    with pytest.raises(ConfigError, match=r"^run_id: expected a plain folder name \(no '/'"):
        run_pipeline(config, runs_dir=tmp_path / "runs", run_id="../up", **_dirs(tmp_path))
