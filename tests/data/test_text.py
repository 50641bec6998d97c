"""The ``text`` reader: CSV and JSON-lines files, the character tokenizer, token splits."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from hwnas.data import load_dataset
from hwnas.data.readers.text import (
    PAD,
    UNKNOWN,
    CharTokenizer,
    TextOptions,
    WordTokenizer,
    read_text,
    token_metadata,
    vocabulary_record,
)
from hwnas.errors import ConfigError, DataError

TEXTS = {
    "pos": ["a fine day", "good work", "nice and warm", "well done", "great fun", "so kind"],
    "neg": ["a bad day", "poor work", "cold and wet", "badly done", "dull stuff", "so rude"],
}


def records() -> list[dict[str, str]]:
    return [{"review": t, "stars": label} for label, texts in TEXTS.items() for t in texts]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_tokenizer_orders_characters_by_frequency_and_round_trips() -> None:
    tok = CharTokenizer.fit(["abb", "b c"], max_vocab=5)
    assert tok.vocabulary == (PAD, UNKNOWN, "b", " ", "a")  # "c" did not fit
    ids = tok.encode(["abc", "b"], length=4)
    assert ids.tolist() == [[4, 2, 1, 0], [2, 0, 0, 0]]
    assert ids.dtype == np.int64
    assert tok.decode(ids[0]) == "ab\ufffd"
    assert tok.encode(["bbbbbb"], length=3).tolist() == [[2, 2, 2]]  # cut


def test_the_word_tokenizer_lowercases_splits_punctuation_and_round_trips() -> None:
    tok = WordTokenizer.fit(["Good, good film!", "A dull film."], max_vocab=6)
    # good x2, film x2, then "!" "," "." "a" "dull" once each: ties by the token.
    assert tok.vocabulary == (PAD, UNKNOWN, "film", "good", "!", ",")
    ids = tok.encode(["A GOOD film, really", "film"], length=5)
    assert ids.tolist() == [[1, 3, 2, 5, 1], [2, 0, 0, 0, 0]] and ids.dtype == np.int64
    assert tok.decode(ids[0]) == f"{UNKNOWN} good film , {UNKNOWN}"
    assert WordTokenizer.words("It's 2x-faster!") == ["it", "'", "s", "2x", "-", "faster", "!"]


def test_a_user_tokenises_words_from_the_metadata_alone() -> None:
    tok = WordTokenizer.fit(["a lovely film", "an awful film", "lovely, lovely"], max_vocab=50)
    meta = token_metadata(tok.vocabulary, 6, "word")
    assert meta["hwnas.tokenizer"] == "word" and meta["hwnas.lowercase"] == "true"
    vocab, pattern = json.loads(meta["hwnas.vocabulary"]), meta["hwnas.pattern"]
    unk, pad = int(meta["hwnas.unk_id"]), int(meta["hwnas.pad_id"])
    texts = ["A LOVELY, unseen film!", "awful"]
    by_hand = np.full((2, 6), pad, dtype=np.int64)
    for row, text in enumerate(texts):
        for col, word in enumerate(re.findall(pattern, text.lower())[:6]):
            by_hand[row, col] = vocab.index(word) if word in vocab[2:] else unk
    assert np.array_equal(by_hand, tok.encode(texts, 6))
    assert vocabulary_record(tok.vocabulary, 6)["tokenizer"] == "char"  # the default
    with pytest.raises(ConfigError, match="tokenizer"):
        vocabulary_record(tok.vocabulary, 6, "bpe")


def test_words_are_a_data_key_and_change_the_tokens_and_the_fingerprint(tmp_path: Path) -> None:
    from hwnas.config import validate_config

    rows = [{"text": r["review"], "label": r["stars"]} for r in records()] * 3
    path = write_jsonl(tmp_path / "reviews.jsonl", rows)
    chars = load_dataset(str(path), seed=1)
    words = load_dataset(str(path), seed=1, text=TextOptions(length=4, tokenizer="word"))
    assert chars.tokenizer == "char" and words.tokenizer == "word"
    assert words.input_shape == (4,) and "work" in (words.vocabulary or ())
    assert words.summary()["tokenizer"] == "word" and words.fingerprint != chars.fingerprint
    data = {"name": f"text:{path}", "seed": 1, "tokenizer": "word", "sequence_length": 4}
    base = {"space": {"name": "transformer"}, "objectives": ["error", "macs"], "budgets": []}
    loaded = validate_config({**base, "data": data}).data.load()
    assert loaded.fingerprint == words.fingerprint
    with pytest.raises(ConfigError, match=r"data.tokenizer"):
        validate_config({**base, "data": {**data, "tokenizer": "bpe"}})


@pytest.mark.parametrize("writer", [write_csv, write_jsonl])
def test_csv_and_jsonl_give_the_same_data(tmp_path: Path, writer) -> None:
    suffix = ".csv" if writer is write_csv else ".jsonl"
    path = writer(tmp_path / f"reviews{suffix}", records())
    raw = read_text(path, text_column="review", label_column="stars", length=8)
    assert raw.classes == ("neg", "pos")
    assert raw.x.shape == (12, 8) and raw.x.dtype == np.int64
    tok = CharTokenizer(raw.vocabulary or ())
    assert tok.decode(raw.x[0]) == "a fine d"
    assert raw.y.tolist() == [1] * 6 + [0] * 6


def test_load_dataset_gives_stratified_token_splits_with_the_vocabulary(tmp_path: Path) -> None:
    rows = [{"text": r["review"], "label": r["stars"]} for r in records()] * 3
    path = write_jsonl(tmp_path / "reviews.jsonl", rows)
    ds = load_dataset(str(path), seed=1)  # detected by its suffix
    assert ds.input_shape == (128,)
    for split in (ds.train, ds.val, ds.test):
        assert split.x.dtype == torch.int64 and split.x.dim() == 2
        assert set(split.y.tolist()) == {0, 1}  # stratified: both classes in every split
    assert len(ds.train) + len(ds.val) + len(ds.test) == 36
    assert ds.vocabulary is not None and ds.vocabulary[:2] == (PAD, UNKNOWN)
    assert ds.summary()["vocabulary"] == list(ds.vocabulary)
    assert ds.mean == () and ds.std == ()
    again = load_dataset(f"text:{path}", seed=1)
    assert again.fingerprint == ds.fingerprint
    assert torch.equal(again.train.x, ds.train.x)
    assert load_dataset(str(path), seed=2).fingerprint != ds.fingerprint


def test_image_summaries_have_no_vocabulary() -> None:
    assert "vocabulary" not in load_dataset("digits").summary()


def test_a_missing_column_names_the_record_and_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", records())
    with pytest.raises(DataError, match=r"record 2 has no 'text'.*found \['review', 'stars'\]"):
        read_text(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.jsonl", "{not json\n", "line 1 is not JSON"),
        ("r.jsonl", "[1, 2]\n", "line 1 is not a JSON object"),
        ("r.txt", "hello", "expected a .csv"),
        ("r.jsonl", "", "no records"),
        ("r.csv", "text,label\ngood,pos\nbad,\n", "record 3 has an empty label 'label'"),
        ("r.csv", "text,label\n,pos\n ,neg\n", "every text 'text' is empty"),
    ],
)
def test_malformed_files_are_data_errors(tmp_path: Path, name, content, message) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        read_text(tmp_path / name)


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])
    with pytest.raises(ConfigError, match="length"):
        read_text(path, length=0)
    with pytest.raises(ConfigError, match="max_vocab"):
        read_text(path, max_vocab=2)
    with pytest.raises(ConfigError, match="image_size"):
        load_dataset(f"text:{path}", image_size=(8, 8))


def test_a_transformer_trains_on_token_splits(tmp_path: Path) -> None:
    from hwnas.spaces import create_space
    from hwnas.train import Recipe, evaluate, train_model

    rows = [{"text": r["review"], "label": r["stars"]} for r in records()] * 4
    ds = load_dataset(str(write_csv(tmp_path / "r.csv", rows)), seed=0)
    space = create_space("transformer")
    torch.manual_seed(0)
    model = space.build(space.parse("e64|h2-f128"), ds.input_shape, ds.num_classes)
    train_model(model, ds, Recipe(epochs=15, batch_size=8, lr=0.01, optimizer="adamw"))
    accuracy, _ = evaluate(model, ds.val)
    assert accuracy >= 0.75  # the words are disjoint between the classes: easy to learn
