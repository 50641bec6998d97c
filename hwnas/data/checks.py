"""Checks of a run's data against its space before anything is profiled or trained, and
the vocabulary file of a text run (what a user needs to tokenise new text)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwnas.errors import ConfigError
from hwnas.io import atomic_write_json

if TYPE_CHECKING:
    from hwnas.config import SearchConfig

#: The run's vocabulary (text data only): ``runs/<id>/vocabulary.json``.
VOCABULARY_FILE = "vocabulary.json"


def check_text_data(config: SearchConfig, dataset: Any = None) -> Any:
    """Text data needs a space that reads token ids with room for the whole vocabulary:
    checked before anything is profiled or trained. Returns the text dataset (``dataset``
    when given, else loaded here), or ``None`` (images are not loaded here).

    Raises:
        ConfigError: The space reads no token ids (it has no ``vocab_size``), or the
            dataset's vocabulary is larger than the space's ``vocab_size``.
    """
    from hwnas.data.load import is_text_source
    from hwnas.spaces import create_space

    if not is_text_source(config.data.name):
        return None
    space = create_space(config.space.name, **config.space.options())
    vocab_size = space.vocab_size
    if vocab_size is None:
        raise ConfigError(
            "space.name",
            "a space that reads token ids (such as transformer) for text data",
            config.space.name,
        )
    dataset = config.data.load() if dataset is None else dataset
    vocabulary = dataset.vocabulary or ()
    if len(vocabulary) > int(vocab_size):
        raise ConfigError(
            "data.max_vocab",
            f"at most the space's vocab_size ({vocab_size}; or raise space.vocab_size): "
            f"the data's vocabulary has {len(vocabulary)} tokens",
            config.data.max_vocab,
        )
    return dataset


def write_vocabulary(run_dir: str | Path, dataset: Any) -> Path | None:
    """Write ``run_dir/vocabulary.json`` (atomically) for text data, so that a user can
    tokenise new text for the run's models (:func:`hwnas.data.readers.text.vocabulary_record`);
    returns its path, or ``None`` for images."""
    from hwnas.data.readers.text import vocabulary_record

    if dataset.vocabulary is None:
        return None
    record = vocabulary_record(
        dataset.vocabulary, dataset.input_shape[0], dataset.tokenizer or "char"
    )
    return atomic_write_json(
        Path(run_dir) / VOCABULARY_FILE, {**record, "classes": list(dataset.classes)}
    )


__all__ = ["VOCABULARY_FILE", "check_text_data", "write_vocabulary"]
