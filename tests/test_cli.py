"""The ``hwnas`` command: JSON output, files written, and clean errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from hwnas.cli import main

TINY = "w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1"
NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"  # noqa: E501


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_space_list(capsys) -> None:
    assert run_json(capsys, "space", "list") == ["convnet", "mbconv", "nb201", "transformer"]


def test_space_sample_is_deterministic(capsys, tmp_path) -> None:
    first = run_json(capsys, "space", "sample", "nb201", "-n", "4", "--seed", "3")
    second = run_json(capsys, "space", "sample", "nb201", "-n", "4", "--seed", "3")
    assert first == second and len(first) == 4
    out = tmp_path / "archs.txt"
    run_json(capsys, "space", "sample", "mbconv", "-n", "2", "--out", str(out))
    assert len(out.read_text().splitlines()) == 2


def test_space_describe_nb201(capsys) -> None:
    info = run_json(
        capsys, "space", "describe", "nb201", NB201, "--input-shape", "3,32,32", "--classes", "10"
    )
    assert info["nb201_index"] == 1
    assert info["encoding"] == [3, 3, 4, 1, 3, 1]
    assert info["params"] > 0 and info["macs"] > 0


def test_space_describe_uses_digits_by_default(capsys) -> None:
    info = run_json(capsys, "space", "describe", "mbconv", TINY)
    assert info["input_shape"] == [1, 8, 8] and info["num_classes"] == 10


def test_space_export_writes_a_checked_onnx_file(capsys, tmp_path) -> None:
    out = tmp_path / "model.onnx"
    info = run_json(
        capsys,
        "space",
        "export",
        "mbconv",
        TINY,
        "--out",
        str(out),
        "--input-shape",
        "3,16,16",
        "--classes",
        "5",
    )
    assert info["out"] == str(out) and info["max_abs_diff"] <= 1e-4
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": np.zeros((3, 3, 16, 16), np.float32)})
    assert logits.shape == (3, 5)


def test_train_writes_result_and_model(capsys, tmp_path) -> None:
    info = run_json(
        capsys,
        "train",
        "mbconv",
        TINY,
        "--epochs",
        "1",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "run"),
    )
    assert 0 <= info["val_accuracy"] <= 1 and 0 <= info["test_accuracy"] <= 1
    assert info["data"]["name"] == "digits"
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["onnx_max_abs_diff"] <= 1e-4
    assert (tmp_path / "run" / "model.onnx").is_file()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["space", "sample", "nope"], "space: expected one of convnet, mbconv, nb201"),
        (["space", "describe", "nb201", "garbage"], "nb201 architecture"),
        (["space", "describe", "mbconv", TINY, "--input-shape", "3,8"], "--input-shape"),
        (["space", "describe", "mbconv", TINY, "--input-shape", "3,8,8"], "--classes"),
        (["space", "sample", "nb201", "-n", "0"], "-n"),
        (["train", "mbconv", TINY, "--data", "/does/not/exist"], "/does/not/exist"),
        (["train", "mbconv", TINY, "--epochs", "0"], "epochs"),
    ],
)
def test_bad_input_exits_2_with_one_message(capsys, argv, message) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_argparse_errors_exit_2_from_the_console_script() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hwnas", "space", "sample"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "SPACE" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("seed", ["-1", str(2**32), "x"])
def test_a_seed_numpy_cannot_take_is_refused_by_the_parser(capsys, seed) -> None:
    # --seed -1 reached numpy ("expected non-negative integer") as a traceback.
    with pytest.raises(SystemExit) as info:
        main(["space", "sample", "nb201", "--seed", seed])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --seed: expected an integer" in err and "Traceback" not in err
