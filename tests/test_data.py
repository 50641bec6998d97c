"""Tests of hwnas.data: every source format, the splits, normalisation and the errors."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hwnas.data import Dataset, Split, load_dataset
from hwnas.errors import ConfigError, DataError


def _balanced_labels(n: int, k: int) -> np.ndarray:
    return np.arange(n) % k


def _check_dataset(ds: Dataset, shape: tuple[int, int, int], num_classes: int) -> None:
    assert ds.input_shape == shape
    assert ds.num_classes == num_classes
    for split in (ds.train, ds.val, ds.test):
        assert split.x.dtype == torch.float32
        assert split.y.dtype == torch.int64
        assert tuple(split.x.shape[1:]) == shape
        assert len(split) == len(split.x) > 0
        assert int(split.y.min()) >= 0 and int(split.y.max()) < num_classes
    train_mean = ds.train.x.double().mean(dim=(0, 2, 3))
    assert torch.allclose(train_mean, torch.zeros(shape[0], dtype=torch.float64), atol=1e-4)
    assert len(ds.mean) == len(ds.std) == shape[0]
    json.dumps(ds.summary())


def _write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


# --------------------------------------------------------------------------------------------
# digits, splits, fingerprint
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def test_digits_shapes_and_normalisation(digits: Dataset) -> None:
    _check_dataset(digits, (1, 8, 8), 10)
    assert digits.name == "digits"
    assert digits.classes == tuple(str(i) for i in range(10))
    assert len(digits.train) + len(digits.val) + len(digits.test) == 1797
    assert len(digits.test) == 360  # ceil(0.2 * 1797)
    assert len(digits.val) == 270  # ceil(0.15 * 1797)
    assert 0.0 < digits.mean[0] < 1.0  # pixels were scaled by 1/16 before normalising
    assert abs(float(digits.train.x.std()) - 1.0) < 1e-3
    summary = digits.summary()
    assert summary["input_shape"] == [1, 8, 8]
    assert summary["num_classes"] == 10
    assert summary["sizes"] == {"train": 1167, "val": 270, "test": 360}
    assert summary["fingerprint"] == digits.fingerprint
    assert len(digits.fingerprint) == 16
    int(digits.fingerprint, 16)


def _ids(ds: Dataset, split: Split) -> list[int]:
    """Recover the sample ids stored as pixel values by :func:`test_splits_...`."""
    raw = split.x[:, 0, 0, 0] * ds.std[0] + ds.mean[0]
    return [round(v) for v in raw.tolist()]


def test_splits_deterministic_disjoint_covering(digits: Dataset, tmp_path: Path) -> None:
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    for a, b in zip(
        (digits.train, digits.val, digits.test), (again.train, again.val, again.test), strict=True
    ):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert again.fingerprint == digits.fingerprint
    assert other.fingerprint != digits.fingerprint
    assert not torch.equal(digits.test.x, other.test.x)
    # Disjoint and covering: each sample's pixels hold its id.
    n = 60
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * np.ones((1, 1, 2, 2), np.float32)
    path = _write_npz(tmp_path / "ids.npz", x=x, y=_balanced_labels(n, 3))
    ds = load_dataset(str(path), seed=3)
    ids = [_ids(ds, s) for s in (ds.train, ds.val, ds.test)]
    assert sorted(i for part in ids for i in part) == list(range(n))
    assert [len(i) for i in ids] == [39, 9, 12]
    assert _ids(load_dataset(str(path), seed=3), ds.test) == ids[2]
    assert set(_ids(ds, load_dataset(str(path), seed=4).test)) != set(ids[2])
    for s in (ds.train, ds.val, ds.test):  # stratified: every class in every split
        assert set(s.y.tolist()) == {0, 1, 2}


def test_labels_match_images_after_split(tmp_path: Path) -> None:
    n = 40
    y = _balanced_labels(n, 4)
    x = np.broadcast_to(y.reshape(n, 1, 1, 1), (n, 1, 3, 3)).astype(np.float32)
    ds = load_dataset(str(_write_npz(tmp_path / "d.npz", x=x, y=y)), seed=5)
    for s in (ds.train, ds.val, ds.test):
        raw = s.x[:, 0, 0, 0] * ds.std[0] + ds.mean[0]
        assert torch.allclose(raw, s.y.float(), atol=1e-5)


def test_fingerprint_depends_on_data_and_settings(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((30, 1, 4, 4)).astype(np.float32)
    y = _balanced_labels(30, 3)
    p = _write_npz(tmp_path / "a.npz", x=x, y=y)
    base = load_dataset(str(p)).fingerprint
    assert load_dataset(str(p)).fingerprint == base
    assert load_dataset(str(p), val_fraction=0.2).fingerprint != base
    assert load_dataset(str(p), image_size=(8, 8)).fingerprint != base
    x2 = x.copy()
    x2[0, 0, 0, 0] += 0.5
    q = _write_npz(tmp_path / "b.npz", x=x2, y=y)
    assert load_dataset(str(q)).fingerprint != base


# --------------------------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((40, 6, 5), (1, 6, 5)),  # (N, H, W)
        ((40, 3, 6, 5), (3, 6, 5)),  # (N, C, H, W)
        ((40, 6, 5, 3), (3, 6, 5)),  # (N, H, W, C)
        ((40, 7, 6, 1), (1, 7, 6)),  # (N, H, W, 1)
    ],
)
def test_npz_layouts_uint8(
    tmp_path: Path, shape: tuple[int, ...], expected: tuple[int, int, int]
) -> None:
    x = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    path = _write_npz(tmp_path / "d.npz", x=x, y=_balanced_labels(40, 2))
    ds = load_dataset(str(path))
    _check_dataset(ds, expected, 2)
    assert ds.name == str(path)
    assert all(0.0 < m < 1.0 for m in ds.mean)  # scaled by 1/255
    assert ds.classes == ("0", "1")


def test_npz_hwc_values_transposed(tmp_path: Path) -> None:
    n = 20
    x = np.zeros((n, 6, 5, 3), np.float32)
    x[..., 1] = 1.0  # only channel 1 is set
    x[:, 0, 0, :] = np.array([0.5, 0.5, 0.5])  # vary a little so std != 0
    ds = load_dataset(str(_write_npz(tmp_path / "d.npz", x=x, y=_balanced_labels(n, 2))))
    assert ds.input_shape == (3, 6, 5)
    assert ds.mean[1] > 0.9 and ds.mean[0] < 0.1 and ds.mean[2] < 0.1


def test_npz_with_test_split_and_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.random((40, 2, 5, 5)).astype(np.float32)
    x_test = rng.random((9, 2, 5, 5)).astype(np.float32)
    y_test = _balanced_labels(9, 3)
    path = _write_npz(
        tmp_path / "d.npz",
        x=x,
        y=_balanced_labels(40, 3),
        x_test=x_test,
        y_test=y_test,
        classes=np.array(["cat", "dog", "eel"]),
    )
    ds = load_dataset(f"npz:{path}", test_fraction=0.5)
    _check_dataset(ds, (2, 5, 5), 3)
    assert ds.classes == ("cat", "dog", "eel")
    assert len(ds.test) == 9 and ds.test.y.tolist() == y_test.tolist()
    assert len(ds.train) + len(ds.val) == 40
    assert len(ds.val) == 6  # ceil(0.15 * 40): val is carved from train only
    expected = (torch.from_numpy(x_test) - torch.tensor(ds.mean).view(1, -1, 1, 1)) / torch.tensor(
        ds.std
    ).view(1, -1, 1, 1)
    assert torch.allclose(ds.test.x, expected, atol=1e-5)


def test_npz_prefix_with_other_suffix(tmp_path: Path) -> None:
    src = _write_npz(
        tmp_path / "d.npz", x=np.random.default_rng(0).random((20, 3, 3)), y=_balanced_labels(20, 2)
    )
    other = tmp_path / "data.bin"
    src.rename(other)
    with pytest.raises(DataError, match=r"unknown dataset format"):
        load_dataset(str(other))
    assert load_dataset(f"npz:{other}").input_shape == (1, 3, 3)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.zeros((10, 3, 3))}, "missing array.*y"),
        ({"y": np.zeros(10, np.int64)}, "missing array.*x"),
        ({"x": np.zeros((10, 9)), "y": _balanced_labels(10, 2)}, "x must have 3 dims"),
        ({"x": np.zeros((10, 1, 2, 3, 3)), "y": _balanced_labels(10, 2)}, "x must have 3 dims"),
        ({"x": np.zeros((10, 3, 3)), "y": _balanced_labels(9, 2)}, "10 images but 9 labels"),
        ({"x": np.zeros((10, 3, 3)), "y": np.zeros(10, np.int64)}, "at least 2"),
        ({"x": np.zeros((10, 3, 3)), "y": np.linspace(0, 1, 10)}, "integer class labels"),
        ({"x": np.zeros((10, 3, 3)), "y": np.array(["a", "b"] * 5)}, "integer class labels"),
        ({"x": np.zeros((10, 3, 3)), "y": _balanced_labels(10, 2) + 1}, "0..K-1"),
        ({"x": np.zeros((10, 3, 3)), "y": _balanced_labels(10, 2) * 2}, "0..K-1"),
        ({"x": np.zeros((10, 3, 3)), "y": _balanced_labels(10, 2) - 1}, "0..K-1"),
        ({"x": np.full((10, 3, 3), 300), "y": _balanced_labels(10, 2)}, "0..255"),
        ({"x": np.full((10, 3, 3), np.nan), "y": _balanced_labels(10, 2)}, "NaN"),
        (
            {
                "x": np.zeros((10, 3, 3)),
                "y": _balanced_labels(10, 2),
                "x_test": np.zeros((4, 3, 3)),
            },
            "together",
        ),
        (
            {
                "x": np.zeros((10, 3, 3)),
                "y": _balanced_labels(10, 2),
                "x_test": np.zeros((4, 3, 3)),
                "y_test": np.array([0, 1, 2, 0]),
            },
            r"test labels \(y_test\) must lie in 0\.\.1",
        ),
        (
            {
                "x": np.zeros((10, 3, 3)),
                "y": _balanced_labels(10, 2),
                "x_test": np.zeros((4, 4, 4)),
                "y_test": np.array([0, 1, 1, 0]),
            },
            "test images have shape",
        ),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict[str, np.ndarray], match: str) -> None:
    path = _write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match) as info:
        load_dataset(str(path))
    assert str(path) in str(info.value)


def test_npz_object_array_refused(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([object()] * 10, dtype=object), y=_balanced_labels(10, 2))
    with pytest.raises(DataError, match=str(path)):
        load_dataset(str(path))


def test_npz_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match=r"junk.npz"):
        load_dataset(str(path))


# --------------------------------------------------------------------------------------------
# image folder
# --------------------------------------------------------------------------------------------


def _write_images(root: Path, classes: dict[str, int], mode: str, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(len(classes))
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            channels = 3 if mode == "RGB" else 1
            arr = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
            img = Image.fromarray(arr[..., 0] if channels == 1 else arr, mode=mode)
            img.save(root / name / f"img{i}.png")


def test_image_folder_rgb(tmp_path: Path) -> None:
    _write_images(tmp_path, {"b_cat": 10, "a_dog": 10}, "RGB", (6, 5))
    (tmp_path / "a_dog" / "notes.txt").write_text("not an image")
    ds = load_dataset(str(tmp_path))
    _check_dataset(ds, (3, 5, 6), 2)
    assert ds.classes == ("a_dog", "b_cat")
    assert len(ds.train) + len(ds.val) + len(ds.test) == 20


def test_image_folder_grayscale_and_resize(tmp_path: Path) -> None:
    _write_images(tmp_path, {"x": 8, "y": 8, "z": 8}, "L", (7, 7))
    # one image of another size is resized to the first one's
    Image.new("L", (12, 10), color=200).save(tmp_path / "z" / "zz_big.png")
    ds = load_dataset(f"imagefolder:{tmp_path}")
    _check_dataset(ds, (1, 7, 7), 3)
    small = load_dataset(str(tmp_path), image_size=(4, 3))
    assert small.input_shape == (1, 4, 3)


def test_image_folder_mixed_modes_become_rgb(tmp_path: Path) -> None:
    _write_images(tmp_path, {"a": 6}, "L", (4, 4))
    _write_images(tmp_path, {"b": 6}, "RGB", (4, 4))
    ds = load_dataset(str(tmp_path))
    assert ds.input_shape == (3, 4, 4)


def test_image_folder_train_test_layout(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", {"a": 10, "b": 10}, "RGB", (4, 4))
    _write_images(tmp_path / "test", {"a": 2, "b": 3}, "RGB", (4, 4))
    ds = load_dataset(str(tmp_path))
    _check_dataset(ds, (3, 4, 4), 2)
    assert len(ds.test) == 5
    assert sorted(ds.test.y.tolist()) == [0, 0, 1, 1, 1]
    assert len(ds.train) + len(ds.val) == 20


def test_image_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"unknown dataset format"):
        load_dataset(str(empty))
    with pytest.raises(DataError, match=r"no class folders") as info:
        load_dataset(f"imagefolder:{empty}")
    assert str(empty) in str(info.value)

    root = tmp_path / "imgs"
    _write_images(root, {"a": 4}, "RGB", (3, 3))
    (root / "b").mkdir()
    (root / "b" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"holds no image files") as info:
        load_dataset(str(root))
    assert str(root / "b") in str(info.value)

    (root / "b" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad.png"):
        load_dataset(str(root))

    single = tmp_path / "single"
    _write_images(single, {"only": 5}, "RGB", (3, 3))
    with pytest.raises(DataError, match=r"at least 2"):
        load_dataset(str(single))

    split = tmp_path / "split"
    _write_images(split / "train", {"a": 4, "b": 4}, "RGB", (3, 3))
    _write_images(split / "test", {"c": 2}, "RGB", (3, 3))
    with pytest.raises(DataError, match=r"no counterpart"):
        load_dataset(str(split))


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------

_CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def _cifar_records(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    return data, [i % 10 for i in range(n)]


def _write_cifar_py(root: Path, n: int = 10, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate([*_CIFAR_TRAIN, "test_batch"]):
        data, labels = _cifar_records(n, seed)
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, f, protocol)
    names = [b"air", b"car", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"c9"]
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_vis": 3072}, f, protocol)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_python_batches(tmp_path: Path, protocol: int) -> None:
    _write_cifar_py(tmp_path, protocol=protocol)
    ds = load_dataset(str(tmp_path), val_fraction=0.2)
    _check_dataset(ds, (3, 32, 32), 10)
    assert ds.classes[:2] == ("air", "car")
    assert len(ds.test) == 10 and len(ds.train) + len(ds.val) == 50
    assert len(ds.val) == 10
    data, labels = _cifar_records(10, 5)
    assert ds.test.y.tolist() == labels
    mean = torch.tensor(ds.mean).view(1, 3, 1, 1)
    std = torch.tensor(ds.std).view(1, 3, 1, 1)
    expected = torch.from_numpy(data.reshape(-1, 3, 32, 32)).float() / 255
    assert torch.allclose(ds.test.x * std + mean, expected, atol=1e-5)


def test_cifar10_nested_folder_and_default_names(tmp_path: Path) -> None:
    _write_cifar_py(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    ds = load_dataset(f"cifar10:{tmp_path}", val_fraction=0.2)
    assert ds.classes[0] == "airplane" and ds.num_classes == 10


def test_cifar10_binary(tmp_path: Path) -> None:
    for seed, name in enumerate([*_CIFAR_TRAIN, "test_batch"]):
        data, labels = _cifar_records(10, seed)
        records = np.concatenate([np.array(labels, np.uint8)[:, None], data], axis=1)
        records.tofile(tmp_path / f"{name}.bin")
    (tmp_path / "batches.meta.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n\n")
    ds = load_dataset(str(tmp_path), val_fraction=0.2)
    _check_dataset(ds, (3, 32, 32), 10)
    assert ds.classes == tuple(f"c{i}" for i in range(10))
    assert ds.test.y.tolist() == _cifar_records(10, 5)[1]

    with open(tmp_path / "test_batch.bin", "ab") as f:
        f.write(b"\x01\x02")
    with pytest.raises(DataError, match=r"test_batch.bin.*truncated"):
        load_dataset(str(tmp_path))
    (tmp_path / "data_batch_3.bin").unlink()
    with pytest.raises(DataError, match=r"missing data_batch_3.bin"):
        load_dataset(str(tmp_path))


def test_cifar10_missing_batches(tmp_path: Path) -> None:
    _write_cifar_py(tmp_path)
    (tmp_path / "data_batch_2").unlink()
    (tmp_path / "test_batch").unlink()
    with pytest.raises(DataError, match=r"missing batch.*data_batch_2, test_batch") as info:
        load_dataset(str(tmp_path))
    assert str(tmp_path) in str(info.value)


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


class _EvalEvil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, ("__import__('pathlib').Path('PWNED').touch()",))


def test_cifar10_malicious_pickle_refused(tmp_path: Path) -> None:
    _write_cifar_py(tmp_path)
    marker = tmp_path / "pwned"
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": _Evil(f"touch {marker}"), b"labels": [0]}, f)
    with pytest.raises(DataError, match=r"data_batch_3.*refusing to unpickle .*system"):
        load_dataset(str(tmp_path))
    assert not marker.exists()

    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump(_EvalEvil(), f, protocol=2)
    with pytest.raises(DataError, match=r"refusing to unpickle .*eval"):
        load_dataset(str(tmp_path))
    assert not Path("PWNED").exists()

    (tmp_path / "data_batch_3").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match=r"data_batch_3"):
        load_dataset(str(tmp_path))

    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.float64), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match=r"uint8"):
        load_dataset(str(tmp_path))


# --------------------------------------------------------------------------------------------
# MNIST IDX
# --------------------------------------------------------------------------------------------


def _idx(arr: np.ndarray) -> bytes:
    return (
        struct.pack(">BBBB", 0, 0, 0x08, arr.ndim)
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + arr.astype(np.uint8).tobytes()
    )


def _write_mnist(root: Path, compress: bool, n_train: int = 30, n_test: int = 10) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 5, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": _balanced_labels(n_train, 3),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 5, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": _balanced_labels(n_test, 3),
    }
    for name, arr in files.items():
        payload = _idx(np.asarray(arr))
        if compress:
            (root / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (root / name).write_bytes(payload)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist(tmp_path: Path, compress: bool) -> None:
    _write_mnist(tmp_path, compress)
    ds = load_dataset(str(tmp_path))
    _check_dataset(ds, (1, 5, 4), 3)
    assert len(ds.test) == 10 and len(ds.train) + len(ds.val) == 30
    assert ds.test.y.tolist() == _balanced_labels(10, 3).tolist()
    assert load_dataset(f"mnist:{tmp_path}").fingerprint == ds.fingerprint


def test_mnist_errors(tmp_path: Path) -> None:
    _write_mnist(tmp_path, compress=False)
    images = tmp_path / "t10k-images-idx3-ubyte"
    good = images.read_bytes()

    images.write_bytes(good[:-3])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.*truncated"):
        load_dataset(str(tmp_path))

    images.write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.*magic"):
        load_dataset(str(tmp_path))

    images.write_bytes(good[:6])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte"):
        load_dataset(str(tmp_path))

    images.write_bytes(_idx(np.zeros((9, 5, 4), np.uint8)))
    with pytest.raises(DataError, match=r"9 images but .* 10 labels"):
        load_dataset(str(tmp_path))

    images.unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz"):
        load_dataset(str(tmp_path))

    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing MNIST file.*t10k-images-idx3-ubyte"):
        load_dataset(f"mnist:{tmp_path}")


# --------------------------------------------------------------------------------------------
# argument errors and split errors
# --------------------------------------------------------------------------------------------


def test_missing_path_and_unknown_format(tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    with pytest.raises(DataError, match=r"no such file") as info:
        load_dataset(str(missing))
    assert str(missing) in str(info.value) and "imagefolder" in str(info.value)
    with pytest.raises(DataError, match=r"no such file"):
        load_dataset(f"cifar10:{missing}")
    text = tmp_path / "data.dat"
    text.write_text("1,2,3")
    with pytest.raises(DataError, match=r"unknown dataset format.*npz:PATH.*mnist:PATH"):
        load_dataset(str(text))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"test_fraction": "0.2"}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction \\+ test_fraction"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"image_size": (0, 8)}, "image_size"),
        ({"image_size": (8,)}, "image_size"),
    ],
)
def test_config_errors(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=f"^{field}: expected"):
        load_dataset("digits", **kwargs)  # type: ignore[arg-type]


def test_spec_errors() -> None:
    with pytest.raises(ConfigError, match=r"spec"):
        load_dataset("")
    with pytest.raises(ConfigError, match=r"spec"):
        load_dataset("npz:")


def test_class_too_small_for_stratified_split(tmp_path: Path) -> None:
    y = np.array([0] * 10 + [1] * 10 + [2])
    path = _write_npz(tmp_path / "d.npz", x=np.zeros((21, 2, 2)), y=y)
    with pytest.raises(DataError, match=r"class '2' has only 1 sample.*at least 2") as info:
        load_dataset(str(path))
    assert str(path) in str(info.value)

    few = _write_npz(tmp_path / "few.npz", x=np.zeros((8, 2, 2)), y=_balanced_labels(8, 4))
    with pytest.raises(DataError, match=r"cannot give each of the 4 classes"):
        load_dataset(str(few))
