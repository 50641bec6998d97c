"""``hwnas run --resume``: an interrupted main job finishes from its run folder (the
search where it stopped, export unless it had finished, the baselines and the report), and
an export that stops half-way leaves the last finished one as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hwnas.export.run as export_module
import hwnas.search as search_module
from hwnas.cli import main
from hwnas.pipeline import resume_pipeline, run_pipeline

from .test_pipeline import TINY

CONFIG = {**TINY, "batch_size": 3, "export": {**TINY["export"], "report_baselines": True}}


class Killed(BaseException):
    """What a kill looks like to the code it stops (KeyboardInterrupt's kind)."""


def interrupt_on_call(monkeypatch, module, name, call):
    real = getattr(module, name)
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def test_an_interrupted_main_job_finishes_with_resume(tmp_path, monkeypatch, capsys) -> None:
    with monkeypatch.context() as patch:
        # Killed while evaluating its second batch: three candidates are in the store.
        interrupt_on_call(patch, search_module, "_evaluate_batch", 2)
        with pytest.raises(Killed):
            run_pipeline(CONFIG, runs_dir=tmp_path, run_id="k")
    run = tmp_path / "k"
    assert not (run / "export").exists()
    said: list[str] = []
    out = resume_pipeline(run, log=said.append)
    assert any(line.startswith("search: 6 evaluations") for line in said)
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    assert manifest == out.manifest and manifest["models"]
    assert out.baselines and Path(out.report or "").is_file()
    report = json.loads((run / "report" / "report.json").read_text())
    assert report["evaluated"] == 6 and report["baselines_status"] == "done"

    # Killed in export: the finished export and its baselines stay as they were.
    before = {p: p.read_bytes() for p in (run / "export").rglob("*") if p.is_file()}
    with monkeypatch.context() as patch:
        interrupt_on_call(patch, export_module, "_export_one", 2)
        with pytest.raises(Killed):
            export_module.export_run(run, top_k=2, epochs=1)
    after = {p: p.read_bytes() for p in (run / "export").rglob("*") if p.is_file()}
    assert after == before

    # Resumed again: the export and baselines that finished are kept, the report redone.
    with monkeypatch.context() as patch:
        patch.setattr(export_module, "_export_one", None)  # not called
        said.clear()
        again = resume_pipeline(run, log=said.append)
    assert "its export had finished: kept" in " ".join(said)
    assert "the baselines had finished: kept" in said
    assert again.manifest == manifest and again.baselines == out.baselines
    assert {p: p.read_bytes() for p in (run / "export").rglob("*") if p.is_file()} == before

    # A finished export replaces the last one whole (the half-way one cleared first).
    fresh = export_module.export_run(run, top_k=1, epochs=1)
    assert len(fresh["models"]) == 1
    assert not (run / ".export.partial").exists() and not (run / ".export.old").exists()
    assert not (run / "export" / "baselines.json").exists()  # of the export it replaced
    files = {str(p.relative_to(run / "export")) for p in (run / "export").rglob("*.onnx")}
    assert files == {fresh["models"][0]["file"]}

    # A manifest that is not one (a list, a number where a latency goes): one message from
    # the commands that read it, and a resumed run exports again.
    for text in (
        "[1, 2]",
        json.dumps({**fresh, "models": [{**fresh["models"][0], "measured_latency_ms": "fast"}]}),
    ):
        (run / "export" / "manifest.json").write_text(text)
        assert main(["report", str(run)]) == 2
        err = capsys.readouterr().err
        assert "corrupted (a JSON list" in err or "not an export manifest (expected " in err
    said.clear()
    again = resume_pipeline(run, log=said.append)
    assert any(
        "measured_latency_ms: a number" in line and "exporting again" in line for line in said
    )
    assert again.manifest["models"] and again.manifest == json.loads(
        (run / "export" / "manifest.json").read_text()
    )


def test_resume_needs_a_run_folder_and_not_a_config_as_well(tmp_path, capsys) -> None:
    assert main(["run", "--resume", str(tmp_path / "nowhere")]) != 0
    assert "no such run folder" in capsys.readouterr().err
    assert main(["run"]) != 0
    assert "CONFIG: expected a config file, or --resume RUN" in capsys.readouterr().err
    assert main(["run", "configs/digits-cpu.yaml", "--resume", str(tmp_path)]) != 0
    assert "(not both)" in capsys.readouterr().err
