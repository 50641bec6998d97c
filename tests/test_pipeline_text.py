"""``hwnas run`` end to end on text: profile, search the transformer space, export with the
vocabulary, text baselines, report; and the exported file classifies new text in plain
onnxruntime from its metadata alone, as PyTorch does."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hwnas.errors import ConfigError
from hwnas.pipeline import run_pipeline
from hwnas.runs import check_text_data
from tests.test_pipeline import QUICK, TINY

WORDS = {
    "good": ["fine", "great", "warm", "kind", "bright", "lovely"],
    "bad": ["poor", "dull", "cold", "rude", "grim", "awful"],
}


def write_reviews(path: Path, n: int = 120) -> Path:
    """``n`` short texts whose label is the kind of word they hold (learnable quickly)."""
    rng = np.random.default_rng(0)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(n):
            label = ("good", "bad")[i % 2]
            words = rng.choice(WORDS[label], size=3)
            writer.writerow([f"a {' and '.join(words)} film", label])
    return path


def tiny_config(data: Path) -> dict:
    """test_pipeline's tiny job, on text: a tiny transformer space and a latency budget."""
    return {
        **TINY,
        "name": "tiny-text",
        "space": {
            "name": "transformer",
            "embed_dims": [16, 32],
            "depths": [1, 2],
            "heads": [1, 2],
            "ffn_dims": [32, 64],
            "head_dim": 8,
            "vocab_size": 64,
        },
        "data": {"name": f"text:{data}", "sequence_length": 128},
        "device": {"runtime": "onnxruntime-cpu", "profile_archs": 10, "protocol": QUICK},
        "objectives": ["error", "latency_ms"],
        "budgets": ["latency_ms <= 10"],
        # Token batches have no channels_last layout (evaluators/supernet.py assumes images).
        "evaluator": {"name": "supernet", "accuracy_slack": 0.5, "channels_last": False},
        "termination": {"evaluations": 4},
        "batch_size": 4,
        "export": {**TINY["export"], "top_k": 1, "epochs": 2},
    }


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    data = write_reviews(root / "reviews.csv")
    said: list[str] = []
    out = run_pipeline(
        tiny_config(data),
        runs_dir=root / "runs",
        run_id="t",
        profiles_dir=root / "profiles",
        predictors_dir=root / "predictors",
        log=said.append,
    )
    return out, said


def test_the_text_job_exports_a_verified_model_with_its_vocabulary(result) -> None:
    out, _ = result
    run = Path(out.run)
    (model,) = out.manifest["models"]
    assert model["feasible"] and model["measured_latency_ms"] > 0
    assert model["max_abs_diff"] <= 1e-4 and out.failures == []
    vocabulary = json.loads((run / "vocabulary.json").read_text())
    assert vocabulary["vocabulary"][:2] == ["<pad>", "<unk>"]
    assert vocabulary["sequence_length"] == 128 and vocabulary["classes"] == ["bad", "good"]
    meta = {p.key: p.value for p in onnx.load(run / "export" / model["file"]).metadata_props}
    assert json.loads(meta["hwnas.vocabulary"]) == vocabulary["vocabulary"]
    assert (meta["hwnas.pad_id"], meta["hwnas.unk_id"]) == ("0", "1")


def test_plain_onnxruntime_reads_new_text_with_the_metadata_alone(result) -> None:
    out, _ = result
    run = Path(out.run)
    path = run / "export" / out.manifest["models"][0]["file"]
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    # What a user does with nothing but the .onnx file: look each character up, pad.
    vocab = json.loads(meta["hwnas.vocabulary"])
    length, unk = int(meta["hwnas.sequence_length"]), int(meta["hwnas.unk_id"])
    texts = ["a lovely and warm film", "a grim and awful film", "zzz ☃ unseen"]
    ids = np.full((len(texts), length), int(meta["hwnas.pad_id"]), dtype=np.int64)
    for row, text in enumerate(texts):
        for col, ch in enumerate(text[:length]):
            ids[row, col] = vocab.index(ch) if ch in vocab[2:] else unk
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": ids})

    from hwnas.data.readers.text import CharTokenizer
    from hwnas.runs import open_run
    from hwnas.train import Recipe, train_arch

    # The ids are those of the run's tokenizer; PyTorch (the model trained again with the
    # export's recipe and seed: training is deterministic) gives the same classes.
    assert np.array_equal(ids, CharTokenizer(tuple(vocab)).encode(texts, length))
    components = open_run(run).components
    space, manifest = components.space, out.manifest
    model, _ = train_arch(
        space,
        space.parse(meta["hwnas.arch"]),
        components.dataset,
        Recipe(**manifest["recipe"]),
        seed=manifest["seed"],
    )
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert np.array_equal(logits.argmax(1), expected.argmax(1))


def test_the_text_baselines_run_and_the_image_ones_are_not_attempted(result) -> None:
    out, said = result
    baselines = json.loads((Path(out.run) / "export" / "baselines.json").read_text())
    rows = {b["name"]: b for b in baselines["baselines"]}
    assert set(rows) == {"encoder-2x128", "textcnn"} and baselines["failures"] == []
    for row in rows.values():
        assert row["error"] is None and row["measured_latency_ms"] > 0
        assert row["test_accuracy"] is not None
    # The tiny space lacks the 2x128 encoder: it is built by hwnas.nn.handmade.
    assert rows["encoder-2x128"]["built_from"] == "handmade"
    assert out.report is not None and Path(out.report).is_file()
    assert not any("lenet5" in line or "Traceback" in line for line in said)


def test_image_networks_are_not_attempted_on_text_nor_text_networks_on_images() -> None:
    from hwnas.baselines import BASELINES, TEXT_BASELINES, fitting_baselines

    kept, skipped = fitting_baselines((*BASELINES, *TEXT_BASELINES), (128,))
    assert kept == list(TEXT_BASELINES)
    assert [s["name"] for s in skipped] == list(BASELINES)
    assert skipped[0]["reason"] == "reads images; the data is token ids"
    kept, skipped = fitting_baselines((*BASELINES, *TEXT_BASELINES), (1, 8, 8))
    assert kept == list(BASELINES) and [s["name"] for s in skipped] == list(TEXT_BASELINES)


def test_a_vocabulary_larger_than_the_space_is_refused_before_any_work(tmp_path) -> None:
    from hwnas.config import validate_config

    config = tiny_config(write_reviews(tmp_path / "r.csv"))
    config["space"]["vocab_size"] = 8
    with pytest.raises(ConfigError, match=r"data.max_vocab.*vocab_size \(8"):
        check_text_data(validate_config(config))
    config["space"] = {"name": "convnet"}
    with pytest.raises(ConfigError, match=r"space.name.*reads token ids"):
        check_text_data(validate_config(config))


def test_hwnas_search_alone_writes_the_vocabulary_and_refuses_an_image_space(tmp_path) -> None:
    from hwnas.runs import search

    config = tiny_config(write_reviews(tmp_path / "r.csv"))
    config.pop("device")
    config.update(objectives=["error", "macs"], budgets=[], termination={"evaluations": 2})
    run = search(config, runs_dir=tmp_path / "runs", run_id="s")
    vocabulary = json.loads((run.path / "vocabulary.json").read_text())
    assert vocabulary["vocabulary"][:2] == ["<pad>", "<unk>"]
    assert vocabulary["classes"] == ["bad", "good"] and vocabulary["sequence_length"] == 128
    config["space"] = {"name": "convnet"}
    with pytest.raises(ConfigError, match=r"space.name.*reads token ids"):
        search(config, runs_dir=tmp_path / "runs", run_id="c")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["s"]
