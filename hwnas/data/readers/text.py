"""``text:PATH``: labelled text in a CSV or JSON-lines file, as token ids.

A ``.csv`` file has a header row; a ``.jsonl`` / ``.ndjson`` file has one JSON object per
line. Each record has a text and a label (columns ``text`` and ``label`` by default; other
names through :func:`read_text`). Labels are class names: the classes are the distinct
labels, sorted. Texts become fixed-length sequences of token ids, cut after ``length``
tokens or padded with id 0: characters (:class:`CharTokenizer`, the default) or words
(:class:`WordTokenizer`: lower-cased runs of letters and digits, and each punctuation mark,
by :data:`WORD_PATTERN`).

The vocabulary (the token of each id) goes with the data
(:attr:`hwnas.data.Dataset.vocabulary`, and the tokenizer's name as
:attr:`~hwnas.data.Dataset.tokenizer`), so that a model trained on it can read new text.
It is built from every record of the file, before the splits (a token seen only in val or
test gets an id too; only texts, no labels, are read from those records).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.data.raw import RawData
from hwnas.data.readers.base import PathReader, register_reader
from hwnas.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_LENGTH",
    "DEFAULT_VOCAB",
    "PAD",
    "TOKENIZERS",
    "UNKNOWN",
    "WORD_PATTERN",
    "CharTokenizer",
    "TextOptions",
    "TextReader",
    "TextSource",
    "WordTokenizer",
    "fit_tokenizer",
    "read_text",
    "token_metadata",
    "tokenize",
    "vocabulary_record",
]

#: The token of id 0 (padding) and id 1 (a character outside the vocabulary).
PAD, UNKNOWN = "<pad>", "<unk>"
#: Characters a text keeps by default (the rest is cut).
DEFAULT_LENGTH = 128
#: The default vocabulary size cap; the ``transformer`` space's default ``vocab_size``.
DEFAULT_VOCAB = 256
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: The tokenizers, by the name ``data.tokenizer`` takes.
TOKENIZERS: tuple[str, ...] = ("char", "word")
#: What a word is (applied to the lower-cased text): a run of letters, digits and
#: underscores, or one character that is neither such nor white space.
WORD_PATTERN = r"\w+|[^\w\s]"


@dataclass(frozen=True)
class CharTokenizer:
    """Characters to ids and back: id 0 is padding, 1 an unknown character, then one id
    per character of :attr:`vocabulary`.

    Attributes:
        vocabulary: The token of each id, starting with :data:`PAD` and :data:`UNKNOWN`.
    """

    vocabulary: tuple[str, ...]

    @classmethod
    def fit(cls, texts: Iterable[str], max_vocab: int = DEFAULT_VOCAB) -> CharTokenizer:
        """The ``max_vocab - 2`` most frequent characters of ``texts`` (ties: by character)."""
        if max_vocab < 3:
            raise ConfigError("max_vocab", "an integer >= 3", max_vocab)
        counts = Counter(c for text in texts for c in text)
        chars = sorted(counts, key=lambda c: (-counts[c], c))[: max_vocab - 2]
        return cls((PAD, UNKNOWN, *chars))

    def encode(self, texts: Sequence[str], length: int) -> np.ndarray:
        """Token ids ``(len(texts), length)``, int64: texts cut after ``length``
        characters or padded with id 0."""
        index = {c: i for i, c in enumerate(self.vocabulary) if i >= 2}
        out = np.zeros((len(texts), length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [index.get(c, 1) for c in text[:length]]
            out[row, : len(ids)] = ids
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` (padding dropped, unknown characters as ``\\ufffd``)."""
        return "".join("\ufffd" if i == 1 else self.vocabulary[i] for i in map(int, ids) if i != 0)


@dataclass(frozen=True)
class WordTokenizer:
    """Words to ids and back: the lower-cased text split by :data:`WORD_PATTERN`; id 0 is
    padding, 1 a word outside the vocabulary, then one id per word of :attr:`vocabulary`.

    Attributes:
        vocabulary: The token of each id, starting with :data:`PAD` and :data:`UNKNOWN`.
    """

    vocabulary: tuple[str, ...]

    @staticmethod
    def words(text: str) -> list[str]:
        """The tokens of ``text``."""
        return re.findall(WORD_PATTERN, text.lower())

    @classmethod
    def fit(cls, texts: Iterable[str], max_vocab: int = DEFAULT_VOCAB) -> WordTokenizer:
        """The ``max_vocab - 2`` most frequent words of ``texts`` (ties: by word)."""
        if max_vocab < 3:
            raise ConfigError("max_vocab", "an integer >= 3", max_vocab)
        counts = Counter(w for text in texts for w in cls.words(text))
        words = sorted(counts, key=lambda w: (-counts[w], w))[: max_vocab - 2]
        return cls((PAD, UNKNOWN, *words))

    def encode(self, texts: Sequence[str], length: int) -> np.ndarray:
        """Token ids ``(len(texts), length)``, int64: texts cut after ``length`` words or
        padded with id 0."""
        index = {w: i for i, w in enumerate(self.vocabulary) if i >= 2}
        out = np.zeros((len(texts), length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [index.get(w, 1) for w in self.words(text)[:length]]
            out[row, : len(ids)] = ids
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """The words of ``ids`` joined by spaces (padding dropped, unknown words as
        :data:`UNKNOWN`)."""
        return " ".join(self.vocabulary[i] for i in map(int, ids) if i != 0)


def fit_tokenizer(
    kind: str, texts: Iterable[str], max_vocab: int = DEFAULT_VOCAB
) -> CharTokenizer | WordTokenizer:
    """A :class:`CharTokenizer` (``char``) or :class:`WordTokenizer` (``word``) fitted on
    ``texts``.

    Raises:
        ConfigError: ``kind`` names no tokenizer, or ``max_vocab`` is below 3.
    """
    if kind == "char":
        return CharTokenizer.fit(texts, max_vocab)
    if kind == "word":
        return WordTokenizer.fit(texts, max_vocab)
    raise ConfigError("tokenizer", f"one of {', '.join(TOKENIZERS)}", kind)


@dataclass(frozen=True)
class TextOptions:
    """How a text source becomes token ids (the ``data:`` section's text keys).

    Attributes:
        text_column: The column (CSV) or key (JSON) of the text.
        label_column: The column or key of the label.
        length: Tokens kept per text (the sequence length).
        max_vocab: Vocabulary size cap, padding and unknown included.
        tokenizer: ``char`` or ``word`` (:data:`TOKENIZERS`).
    """

    text_column: str = "text"
    label_column: str = "label"
    length: int = DEFAULT_LENGTH
    max_vocab: int = DEFAULT_VOCAB
    tokenizer: str = "char"


class TextSource:
    """A reader of text: :func:`hwnas.data.load_dataset` hands it the
    :class:`TextOptions` of the config (readers are built with no arguments)."""

    #: The options the next :meth:`read` uses.
    options: TextOptions = TextOptions()


def tokenize(
    where: str,
    texts: Sequence[str],
    labels: Sequence[str],
    length: int,
    max_vocab: int,
    tokenizer: str = "char",
) -> RawData:
    """Labelled ``texts`` as token ids ``(N, length)`` with their vocabulary (fitted on
    all of ``texts``); the classes are the distinct ``labels``, sorted."""
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ConfigError("length", "an integer >= 1", length)
    classes = sorted(set(labels))
    y = np.searchsorted(np.asarray(classes), np.asarray(labels)).astype(np.int64)
    fitted = fit_tokenizer(tokenizer, texts, max_vocab)
    x = fitted.encode(texts, length)
    return RawData.from_arrays(
        where, x, y, classes, vocabulary=fitted.vocabulary, tokenizer=tokenizer
    )


def vocabulary_record(
    vocabulary: Sequence[str], length: int, tokenizer: str = "char"
) -> dict[str, Any]:
    """What a user needs to feed a model new text (``runs/<id>/vocabulary.json``): the
    ``tokenizer`` (``char``, or ``word`` with the ``pattern`` that finds them in
    the ``lowercase`` text), the ``vocabulary`` (the token of each id), ``pad_id``,
    ``unk_id`` and ``sequence_length``. Tokenise a text with the tokenizer's ``encode``,
    or by hand: the id of each of its first ``sequence_length`` tokens (``unk_id`` when not
    in the vocabulary), then ``pad_id`` up to ``sequence_length``."""
    if tokenizer not in TOKENIZERS:
        raise ConfigError("tokenizer", f"one of {', '.join(TOKENIZERS)}", tokenizer)
    how: dict[str, Any] = {"tokenizer": "char"}
    if tokenizer == "word":
        how = {"tokenizer": "word", "lowercase": True, "pattern": WORD_PATTERN}
    return {
        **how,
        "vocabulary": list(vocabulary),
        "pad_id": list(vocabulary).index(PAD),
        "unk_id": list(vocabulary).index(UNKNOWN),
        "sequence_length": int(length),
    }


def token_metadata(
    vocabulary: Sequence[str] | None, length: int, tokenizer: str = "char"
) -> dict[str, str]:
    """:func:`vocabulary_record` as ONNX metadata (string values, keys prefixed
    ``hwnas.``; the vocabulary a JSON list). Empty for images (``vocabulary`` ``None``)."""
    if vocabulary is None:
        return {}
    record = vocabulary_record(vocabulary, length, tokenizer)
    return {
        # JSON for the list and for booleans (``true``, as hwnas.feasible), plain text else.
        f"hwnas.{key}": json.dumps(value, ensure_ascii=False)
        if isinstance(value, list | bool)
        else str(value)
        for key, value in record.items()
    }


def read_text(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    length: int = DEFAULT_LENGTH,
    max_vocab: int = DEFAULT_VOCAB,
    tokenizer: str = "char",
) -> RawData:
    """Read a CSV or JSON-lines file of labelled texts as token ids.

    Args:
        path: A ``.csv`` (with a header row), ``.jsonl`` or ``.ndjson`` file.
        text_column: The column (CSV) or key (JSON) of the text.
        label_column: The column or key of the label.
        length: Tokens kept per text (the sequence length).
        max_vocab: Vocabulary size cap, padding and unknown included.
        tokenizer: ``char`` or ``word`` (:data:`TOKENIZERS`).

    Returns:
        Raw data with int64 ids ``x`` ``(N, length)`` and the vocabulary.

    Raises:
        ConfigError: ``length`` or ``max_vocab`` is not a valid integer.
        DataError: The file is of another format, malformed, or lacks a column.
    """
    path = Path(path)
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None or not path.is_file():
        raise DataError(f"{path}: expected a .csv, .jsonl or .ndjson file")
    records = _read_csv(path) if kind == "csv" else _read_jsonl(path)
    texts, labels = [], []
    for number, record in records:
        missing = [c for c in (text_column, label_column) if record.get(c) is None]
        if missing:
            raise DataError(
                f"{path}: record {number} has no {' / '.join(map(repr, missing))} (columns: "
                f"text {text_column!r}, label {label_column!r}; found {sorted(record)})"
            )
        label = str(record[label_column]).strip()
        if not label:
            # An empty cell would otherwise become a class of its own ('').
            raise DataError(f"{path}: record {number} has an empty label {label_column!r}")
        texts.append(str(record[text_column]))
        labels.append(label)
    if not texts:
        raise DataError(
            f"{path}: no records (expected a text dataset: a header row or JSON keys naming "
            f"the text {text_column!r} and the label {label_column!r}, then one record per text)"
        )
    if not any(t.strip() for t in texts):
        raise DataError(f"{path}: every text {text_column!r} is empty: nothing to learn from")
    return tokenize(str(path), texts, labels, length, max_vocab, tokenizer)


def _read_csv(path: Path) -> list[tuple[int, dict[str, object]]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return [(i, dict(row)) for i, row in enumerate(csv.DictReader(f), start=2)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as UTF-8 CSV: {exc}") from exc


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, object]]]:
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot read as UTF-8: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number} is not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {number} is not a JSON object")
        records.append((number, record))
    return records


@register_reader("text")
class TextReader(TextSource, PathReader):
    """Reads labelled text with the columns, length and vocabulary size of its
    :attr:`~TextSource.options`; a bare ``.csv`` / ``.jsonl`` path is detected."""

    description = "a .csv / .jsonl file of texts and labels"
    list_order = 60  # after the image formats
    detect_order = 20

    def detect(self, path: Path) -> bool:
        """Whether ``path`` is a file named ``*.csv``, ``*.jsonl`` or ``*.ndjson``."""
        return path.is_file() and path.suffix.lower() in _SUFFIXES

    def read(self, path: Path, image_size: tuple[int, int] | None) -> RawData:
        """Read ``path``; ``image_size`` must be ``None`` (texts are not images)."""
        if image_size is not None:
            raise ConfigError("image_size", "None for text data", image_size)
        o = self.options
        return read_text(
            path,
            text_column=o.text_column,
            label_column=o.label_column,
            length=o.length,
            max_vocab=o.max_vocab,
            tokenizer=o.tokenizer,
        )
