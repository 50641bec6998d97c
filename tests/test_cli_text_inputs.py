"""The commands beside ``hwnas run`` with token sequences: a space that reads text gets
token ids, a space that reads images refuses a sequence shape by name."""

from __future__ import annotations

import json

import onnx
import onnxruntime as ort
import pytest

from hwnas.cli import main


def _text_csv(tmp_path):
    path = tmp_path / "t.csv"
    rows = ["text,label"]
    for i in range(30):
        rows += [f"a good movie {i},pos", f"a bad film {i} awful,neg"]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_space_export_gives_a_text_space_token_ids(tmp_path, capsys) -> None:
    out = tmp_path / "t.onnx"
    args = ["space", "export", "transformer", "e128|h4-f512|h2-f256", "--input-shape", "48"]
    assert main([*args, "--classes", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(int64)"


def test_space_export_checks_the_opset(tmp_path, capsys) -> None:
    args = ["space", "export", "nb201", "--input-shape", "3,8,8", "--classes", "2"]
    arch = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|"
    assert main([*args[:3], arch, *args[3:], "--opset", "99", "--out", str(tmp_path / "z")]) == 2
    assert "--opset: expected an ONNX opset from 11" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["space", "describe", "mbconv", "{mbconv}", "--input-shape", "16", "--classes", "2"],
        ["train", "convnet", "s16k5|plain-c16-k3-d2-s1|-|-|-|h128-f0", "--data", "{csv}"],
        ["profile", "--space", "nb201", "-n", "1", "--data", "{csv}", "--out-dir", "{tmp}"],
        ["supernet", "train", "--space", "mbconv", "--data", "{csv}", "--epochs", "1"],
    ],
    ids=["describe", "train", "profile", "supernet"],
)
def test_a_space_that_reads_images_refuses_token_sequences(argv, tmp_path, capsys) -> None:
    import numpy as np

    from hwnas.spaces import create_space

    mbconv = str(create_space("mbconv").sample(np.random.default_rng(0)))
    fill = {"mbconv": mbconv, "csv": str(_text_csv(tmp_path)), "tmp": str(tmp_path / "p")}
    args = [a.format(**fill) for a in argv]
    if args[0] == "supernet":
        args += ["--out", str(tmp_path / "s")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "input_shape: expected images (C,H,W) for the" in err and "Traceback" not in err


def test_train_out_on_text_writes_the_result_and_the_vocabulary(tmp_path, capsys) -> None:
    out = tmp_path / "trained"
    args = ["train", "transformer", "e64|h1-f128", "--data", str(_text_csv(tmp_path))]
    args += ["--epochs", "1", "--optimizer", "adamw", "--lr", "0.001", "--augment", "none"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    result = json.loads((out / "result.json").read_text())
    assert result["onnx_max_abs_diff"] <= 1e-4
    meta = {p.key: p.value for p in onnx.load(out / "model.onnx").metadata_props}
    assert json.loads(meta["hwnas.classes"]) == ["neg", "pos"]
    assert meta["hwnas.tokenizer"] == "char" and "<pad>" in json.loads(meta["hwnas.vocabulary"])


def test_space_export_to_a_folder_is_refused_by_name(tmp_path, capsys) -> None:
    arch = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|"
    assert main(["space", "export", "nb201", arch, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--out: expected the path of an .onnx file, not a folder, got '{tmp_path}'" in err
    assert ".tmp" not in err
    from hwnas.errors import ConfigError
    from hwnas.onnx_export import export_onnx
    from hwnas.spaces import create_space

    space = create_space("nb201")
    model = space.build(space.parse(arch), (3, 8, 8), 10)
    with pytest.raises(ConfigError, match=r"^path: expected the path of an \.onnx file"):
        export_onnx(model, tmp_path, (3, 8, 8))  # the library names its argument
