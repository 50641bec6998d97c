"""``hwnas fit`` and ``hwnas predict``: JSON output, files written, exit code 2 on errors."""

from __future__ import annotations

import json

import pytest

from hwnas.cli import main

from .synthetic import additive_latency, make_records, write_profile


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def profile(records, tmp_path):
    return write_profile(tmp_path / "profile.jsonl", records)


def test_fit_and_predict(capsys, profile, records, tmp_path) -> None:
    out = tmp_path / "pred.json"
    # The synthetic device charges each operation by its edge: one-hot features see that.
    info = run_json(
        capsys,
        "fit",
        str(profile),
        "--model",
        "lut",
        "--features",
        "onehot,costs",
        "--out",
        str(out),
    )
    assert info["predictor"] == str(out) and out.is_file()
    assert info["model"] == "lut" and info["n_test"] == 60
    assert info["features"] == ["onehot", "costs"]
    assert info["held_out"]["within_10pct"] > 0.95
    assert info["baseline_linear_macs"]["within_10pct"] < info["held_out"]["within_10pct"]

    one = run_json(capsys, "predict", records[0].arch, "--predictor", str(out))
    assert one["n"] == 1 and one["predictions"][0]["arch"] == records[0].arch
    assert one["predictions"][0]["latency_ms"] == pytest.approx(records[0].median_ms, rel=0.1)

    archs = tmp_path / "archs.txt"
    archs.write_text("# header\n" + "\n".join(r.arch for r in records) + "\n\n")
    many = run_json(capsys, "predict", "--archs", str(archs), "--predictor", str(out))
    assert many["n"] == 300

    assert main(["predict", "--archs", str(archs), "--predictor", str(out)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 300


def test_fit_default_location_and_text_output(capsys, profile, records, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", str(profile), "--model", "linear-macs"]) == 0
    text = capsys.readouterr().out
    assert "baseline linear-macs" in text and "wrote predictors" in text
    assert (tmp_path / "predictors" / records[0].device_id / "nb201.json").is_file()


def test_fit_transfer(capsys, profile, nb201, tmp_path) -> None:
    source = tmp_path / "source.json"
    run_json(
        capsys, "fit", str(profile), "--model", "lut", "--features", "onehot", "--out", str(source)
    )
    base = additive_latency(0)
    target = make_records(nb201, 60, lambda e: 3.0 * base(e), device="synthetic-b", seed=9)
    target_profile = write_profile(tmp_path / "target.jsonl", target)
    out = tmp_path / "transfer.json"
    info = run_json(
        capsys,
        "fit",
        str(target_profile),
        "--transfer-from",
        str(source),
        "--samples",
        "10",
        "--out",
        str(out),
    )
    assert info["kind"] == "transfer" and info["samples"] == 10 and info["n_test"] == 50
    assert info["held_out"]["spearman"] > 0.99
    assert len(info["weights"]) == 1
    pred = run_json(capsys, "predict", target[0].arch, "--predictor", str(out))
    assert pred["predictions"][0]["latency_ms"] == pytest.approx(target[0].median_ms, rel=0.1)


def test_bad_arguments_exit_2(capsys, profile, tmp_path) -> None:
    out = tmp_path / "p.json"
    assert main(["fit", str(profile), "--test-fraction", "1.5"]) == 2
    assert "test_fraction" in capsys.readouterr().err
    assert main(["fit", str(profile), "--model", "magic"]) == 2
    assert main(["fit", str(profile), "--samples", "5"]) == 2
    assert "--transfer-from" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["fit", str(profile), "--transfer-from", str(out), "--samples", "5"]) == 2
    assert main(["predict", "x", "--predictor", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["fit", str(profile), "--model", "lut", "--out", str(out)]) == 0
    assert main(["predict", "--predictor", str(out)]) == 2
    assert main(["predict", "|bad|", "--predictor", str(out)]) == 2
    assert "ARCH" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\nnot-an-arch\n")
    assert main(["predict", "--archs", str(bad), "--predictor", str(out)]) == 2
    assert "line 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as error:
        main(["predict", "x"])  # --predictor is required
    assert error.value.code == 2


@pytest.mark.parametrize("value", ["", "onehot,nope", ","])
def test_fit_rejects_unknown_feature_blocks(capsys, profile, value) -> None:
    assert main(["fit", str(profile), "--features", value]) == 2
    assert "--features: expected a comma-separated list of" in capsys.readouterr().err
