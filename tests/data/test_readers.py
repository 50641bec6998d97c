"""Tests of the dataset reader registry: registration, detection order, plugins, safe pickles."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest

import hwnas.data
from hwnas.data import FORMATS, load_dataset
from hwnas.data.raw import RawData
from hwnas.data.readers import BuiltinReader, PathReader, base, list_readers, register_reader
from hwnas.data.readers.base import READERS, accepted_sources, detect_reader, path_reader
from hwnas.data.readers.safe_pickle import NumpyOnlyUnpickler
from hwnas.errors import DataError
from hwnas.registry import Registry

PATH_FORMATS = ["npz", "imagefolder", "cifar10", "mnist", "text"]


def test_every_documented_source_is_a_registered_reader() -> None:
    assert list_readers() == ["cifar10", "digits", "imagefolder", "mnist", "npz", "reviews", "text"]
    assert FORMATS == tuple(PATH_FORMATS)
    assert isinstance(READERS.create("digits"), BuiltinReader)
    assert isinstance(READERS.create("reviews"), BuiltinReader)
    assert all(isinstance(READERS.create(name), PathReader) for name in PATH_FORMATS)


def test_the_accepted_sources_are_listed_in_documentation_order() -> None:
    assert accepted_sources() == (
        "'digits', 'reviews', a .npz file (npz:PATH), an image folder (imagefolder:PATH), "
        "a CIFAR-10 directory (cifar10:PATH), an MNIST IDX directory (mnist:PATH) or a "
        ".csv / .jsonl file of texts and labels (text:PATH)"
    )


def test_only_path_formats_take_a_prefix(tmp_path: Path) -> None:
    assert path_reader("digits") is None and path_reader("nope") is None
    with pytest.raises(DataError, match=r"digits:x: no such file"):
        load_dataset("digits:x")


@pytest.mark.parametrize("name", PATH_FORMATS)
def test_no_reader_claims_an_empty_folder_or_a_text_file(tmp_path: Path, name: str) -> None:
    reader = path_reader(name)
    assert reader is not None
    (tmp_path / "notes.txt").write_text("hello")
    assert not reader.detect(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    assert not reader.detect(tmp_path / "empty")


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (["model.npz"], "npz"),
        (["train-images-idx3-ubyte", "data_batch_1"], "mnist"),  # MNIST is asked first
        (["raw/train-images-idx3-ubyte.gz"], "mnist"),  # not an image folder with class "raw"
        (["cifar-10-batches-py/data_batch_1"], "cifar10"),
        (["test_batch.bin", "cats/a.png"], "cifar10"),
        (["cats/a.png", "dogs/b.png"], "imagefolder"),
    ],
)
def test_a_bare_path_goes_to_the_first_reader_that_claims_it(
    tmp_path: Path, layout: list[str], expected: str
) -> None:
    for rel in layout:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    target = tmp_path / layout[0] if layout[0].endswith(".npz") else tmp_path
    assert detect_reader(target).name == expected


class _CountingReader(PathReader):
    """A toy format: a ``*.count`` file of N, read as N 2x2 images in two classes."""

    description = "a count file"
    list_order = 99

    def detect(self, path: Path) -> bool:
        return path.suffix == ".count"

    def read(self, path: Path, image_size: tuple[int, int] | None) -> RawData:
        n = int(path.read_text())
        x = np.arange(n * 4, dtype=np.float32).reshape(n, 1, 2, 2) / (n * 4)
        return RawData.from_arrays(str(path), x, np.arange(n) % 2, ["even", "odd"])


@pytest.fixture
def with_counting_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    registry: Registry[base.Reader] = Registry("dataset format")
    for name in READERS.names():
        registry.register(name)(READERS.get(name))
    monkeypatch.setattr(base, "READERS", registry)
    register_reader("count")(_CountingReader)


@pytest.mark.usefixtures("with_counting_reader")
def test_a_new_format_is_one_registered_class(tmp_path: Path) -> None:
    source = tmp_path / "forty.count"
    source.write_text("40")
    by_prefix = load_dataset(f"count:{source}")
    detected = load_dataset(str(source))
    assert by_prefix.classes == ("even", "odd") and by_prefix.input_shape == (1, 2, 2)
    assert len(by_prefix.train) + len(by_prefix.val) + len(by_prefix.test) == 40
    assert detected.fingerprint == by_prefix.fingerprint
    assert accepted_sources().endswith(" or a count file (count:PATH)")
    with pytest.raises(DataError, match=r"count file \(count:PATH\)"):
        load_dataset(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("module", "name"),
    [("builtins", "eval"), ("os", "system"), ("numpy", "load"), ("numpy.lib.npyio", "load")],
)
def test_the_unpickler_refuses_every_other_global(module: str, name: str) -> None:
    unpickler = NumpyOnlyUnpickler(io.BytesIO(b""))
    with pytest.raises(DataError, match=rf"refusing to unpickle {module}\.{name}"):
        unpickler.find_class(module, name)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_the_unpickler_rebuilds_arrays_and_containers(protocol: int) -> None:
    batch = {b"data": np.arange(12, dtype=np.uint8).reshape(3, 4), b"labels": [1, 2, 3]}
    blob = pickle.dumps(batch, protocol=protocol)
    loaded = NumpyOnlyUnpickler(io.BytesIO(blob), encoding="bytes").load()
    assert loaded[b"labels"] == [1, 2, 3]
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])


def test_the_package_keeps_its_public_names() -> None:
    for name in hwnas.data.__all__:
        assert hasattr(hwnas.data, name)
