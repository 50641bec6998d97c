"""Tests of the image-folder and .npz readers on what a user trial found: 16-bit images,
nested class folders, constant input, a short ``classes`` array and mixed image sizes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hwnas.data import Dataset, load_dataset
from hwnas.data.readers.imagefolder import ImageFolderReader
from hwnas.errors import ConfigError, DataError


def _save(path: Path, arr: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path)


def _noise(seed: int, lo: int, hi: int, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.random.default_rng(seed).integers(lo, hi, size=shape).astype(dtype)


def _pixels(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The train images back in ``[0, 1]`` (normalisation undone), and their labels."""
    mean = torch.tensor(ds.mean).view(1, -1, 1, 1)
    std = torch.tensor(ds.std).view(1, -1, 1, 1)
    return ds.train.x * std + mean, ds.train.y


# --------------------------------------------------------------------------------------------
# 1. 16-bit grayscale
# --------------------------------------------------------------------------------------------


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    for i in range(8):
        _save(tmp_path / "dim" / f"{i}.png", _noise(i, 0, 19_000, (4, 4), np.uint16))
        _save(tmp_path / "bright" / f"{i}.png", _noise(i, 21_000, 40_000, (4, 4), np.uint16))
    assert Image.open(tmp_path / "dim" / "0.png").mode in ("I", "I;16")  # really 16-bit

    raw = ImageFolderReader().read(tmp_path, None)
    dim = raw.x[raw.y == raw.classes.index("dim")]
    bright = raw.x[raw.y == raw.classes.index("bright")]
    assert raw.x.dtype == np.float32 and raw.x.shape[1:] == (1, 4, 4)
    assert dim.max() < 19_000 / 65535 + 1e-6 < 21_000 / 65535 - 1e-6 < bright.min()
    assert bright.max() <= 40_000 / 65535 + 1e-6  # divided by 65535, not clipped at 255

    ds = load_dataset(str(tmp_path))
    assert ds.input_scale == "65535"  # recorded for a deployed model's preprocessing
    x, y = _pixels(ds)
    per_image = x.mean(dim=(1, 2, 3))
    dim_label, bright_label = ds.classes.index("dim"), ds.classes.index("bright")
    assert per_image[y == dim_label].max() < per_image[y == bright_label].min()


def test_16_bit_and_8_bit_images_share_one_scale(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "wide.png", np.full((3, 3), 65535, np.uint16))
    _save(tmp_path / "a" / "narrow.png", np.full((3, 3), 255, np.uint8))
    _save(tmp_path / "b" / "wide.png", np.full((3, 3), 13107, np.uint16))  # 0.2 of 65535
    _save(tmp_path / "b" / "narrow.png", np.full((3, 3), 51, np.uint8))  # 0.2 of 255
    raw = ImageFolderReader().read(tmp_path, None)
    np.testing.assert_allclose(raw.x[:, 0, 0, 0], [1.0, 1.0, 0.2, 0.2], atol=1e-6)
    assert raw.input_scale == "255 for 8-bit images, 65535 for 16-bit ones"


def test_the_pixel_scale_is_recorded_as_the_source_had_it(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, (40, 6, 6)).astype(np.uint8)
    y = np.arange(40) % 2
    np.savez(tmp_path / "u8.npz", x=x, y=y)
    np.savez(tmp_path / "f32.npz", x=x.astype(np.float32) / 255, y=y)
    assert load_dataset(f"npz:{tmp_path / 'u8.npz'}").input_scale == "255"
    assert load_dataset(f"npz:{tmp_path / 'f32.npz'}").input_scale == "1"
    assert load_dataset("digits").summary()["input_scale"] == "16"  # scikit-learn's 0..16


# --------------------------------------------------------------------------------------------
# 2. nested class folders
# --------------------------------------------------------------------------------------------


def test_class_folders_are_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    files = [
        "class_0/b.png",
        "class_0/a/z.png",
        "class_1/nested/deeper/x.png",
        "class_1/nested/w.png",
        "class_1/v.png",
    ]
    for value, rel in enumerate(files):
        _save(tmp_path / rel, np.full((2, 2), 10 * (value + 1), np.uint8))
    _save(tmp_path / "class_1" / ".cache" / "hidden.png", np.zeros((2, 2), np.uint8))
    _save(tmp_path / "class_1" / "nested" / ".hidden.png", np.zeros((2, 2), np.uint8))

    raw = ImageFolderReader().read(tmp_path, None)
    assert raw.classes == ("class_0", "class_1")
    assert raw.y.tolist() == [0, 0, 1, 1, 1]
    order = sorted(files, key=lambda rel: Path(rel).parts)  # by path, within each class
    assert raw.x[:, 0, 0, 0].tolist() == [10 * (files.index(rel) + 1) for rel in order]

    only_nested = tmp_path / "only_nested"
    _save(only_nested / "a" / "sub" / "x.png", np.zeros((2, 2), np.uint8))
    (only_nested / "b" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=r"b: class folder holds no image files.*sub-folders"):
        ImageFolderReader().read(only_nested, None)


def test_a_link_back_to_a_parent_does_not_loop(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        for i in range(2):
            _save(tmp_path / cls / f"{i}.png", _noise(i, 0, 256, (2, 2), np.uint8))
    try:
        (tmp_path / "a" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    except OSError:
        pytest.skip("cannot create symbolic links here")
    assert ImageFolderReader().read(tmp_path, None).y.tolist() == [0, 0, 1, 1]


# --------------------------------------------------------------------------------------------
# 3. constant input
# --------------------------------------------------------------------------------------------


def _alpha_only(root: Path, rgb: int) -> None:
    """Two classes drawn only in the alpha channel over colour ``rgb``: opaque top half
    (class ``top``) or bottom half (``bottom``)."""
    for i in range(6):
        for name, rows in (("top", slice(0, 2)), ("bottom", slice(2, 4))):
            arr = np.zeros((4, 4, 4), np.uint8)
            arr[..., :3] = rgb
            arr[rows, :, 3] = 255
            arr[0, 0, 3] = 20 * i  # images of a class differ a little
            _save(root / name / f"{i}.png", arr, "RGBA")


def test_rgba_is_composited_on_white_so_alpha_only_content_survives(tmp_path: Path) -> None:
    _alpha_only(tmp_path, rgb=0)  # black drawing, transparent background
    raw = ImageFolderReader().read(tmp_path, None)
    assert raw.x.shape[1:] == (3, 4, 4)
    top = raw.x[raw.y == raw.classes.index("top")]
    assert (top[:, :, 1, :] == 0).all() and (top[:, :, 3, :] == 255).all()  # ink, background
    ds = load_dataset(str(tmp_path))
    assert ds.std[0] > 0.1


def test_constant_images_are_refused_with_an_alpha_hint(tmp_path: Path) -> None:
    _alpha_only(tmp_path, rgb=255)  # white drawing on a transparent background: all white
    with pytest.raises(DataError, match=r"training input is constant.*alpha channel") as info:
        load_dataset(str(tmp_path))
    assert str(tmp_path) in str(info.value)


def test_a_constant_npz_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flat.npz"
    np.savez(path, x=np.full((20, 3, 3), 7, np.uint8), y=np.arange(20) % 2)
    with pytest.raises(DataError, match=r"flat.npz: the training input is constant") as info:
        load_dataset(str(path))
    assert "alpha" not in str(info.value)  # the hint is for image folders

    x = np.zeros((20, 3, 4, 4), np.float32)
    x[:, 1] = np.random.default_rng(0).random((20, 4, 4))  # constant channels are fine
    np.savez(path, x=x, y=np.arange(20) % 2)
    assert load_dataset(str(path)).input_shape == (3, 4, 4)


# --------------------------------------------------------------------------------------------
# 4. a short classes array
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["y", "y_test"])
def test_a_short_classes_array_is_blamed_not_the_labels(tmp_path: Path, field: str) -> None:
    labels = {"y": np.arange(20) % 3, "y_test": np.arange(10) % 3}
    labels[field] = np.arange(len(labels[field])) % 5
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x=rng.random((20, 3, 3)),
        x_test=rng.random((10, 3, 3)),
        classes=np.array(["a", "b", "c"]),
        **labels,
    )
    with pytest.raises(DataError, match=rf"d.npz: classes: 3 names for labels 0\.\.4 \({field}\)"):
        load_dataset(str(path))


def test_labels_that_are_not_integers_are_still_blamed_on_y(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    y = np.arange(20) % 2 + 3.5
    np.savez(path, x=np.random.default_rng(0).random((20, 3, 3)), y=y, classes=np.array(["a"]))
    with pytest.raises(DataError, match=r"labels \(y\) must hold integer class labels"):
        load_dataset(str(path))


# --------------------------------------------------------------------------------------------
# 5. mixed image sizes
# --------------------------------------------------------------------------------------------


def _mixed_sizes(root: Path, sizes: dict[str, list[tuple[int, int]]]) -> None:
    """Gray images of the given ``(H, W)`` per class, named so they sort in list order."""
    for c, (name, shapes) in enumerate(sizes.items()):
        for i, shape in enumerate(shapes):
            _save(root / name / f"{i:02d}.png", _noise(10 * c + i, 0, 256, shape, np.uint8))


def test_mixed_sizes_go_to_the_most_common_size_with_a_warning(tmp_path: Path) -> None:
    # The first file (a/00.png) is 9x9: the old rule would have resized all to 9x9.
    _mixed_sizes(tmp_path, {"a": [(9, 9)] + [(4, 4)] * 5, "b": [(6, 5)] * 4 + [(4, 4)] * 2})
    with pytest.warns(UserWarning, match=r"resized 5 of 12 images to 4x4.*most common"):
        ds = load_dataset(str(tmp_path))
    assert ds.input_shape == (1, 4, 4)


def test_a_tie_goes_to_the_largest_size(tmp_path: Path) -> None:
    _mixed_sizes(tmp_path, {"a": [(4, 4)] * 3, "b": [(6, 5)] * 3})
    with pytest.warns(UserWarning, match=r"resized 3 of 6 images to 6x5"):
        assert ImageFolderReader().read(tmp_path, None).x.shape[2:] == (6, 5)


def test_image_size_resizes_every_image_without_a_warning(tmp_path: Path) -> None:
    _mixed_sizes(tmp_path, {"a": [(9, 9)] + [(4, 4)] * 5, "b": [(6, 5)] * 4 + [(4, 4)] * 2})
    assert ImageFolderReader().read(tmp_path, (5, 7)).x.shape[1:] == (1, 5, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pair = load_dataset(str(tmp_path), image_size=(5, 7))
        square = load_dataset(str(tmp_path), image_size=6)
    assert pair.input_shape == (1, 5, 7)
    assert square.input_shape == (1, 6, 6)
    assert square.fingerprint == load_dataset(str(tmp_path), image_size=(6, 6)).fingerprint
    for bad in (0, True, 2.5, (6,)):
        with pytest.raises(ConfigError, match=r"image_size"):
            load_dataset(str(tmp_path), image_size=bad)  # type: ignore[arg-type]


def test_a_test_split_without_some_classes_is_warned_about(tmp_path: Path) -> None:
    for split, names in (("train", "abc"), ("test", "a")):
        for c, name in enumerate(names):
            for i in range(8):
                noise = _noise(10 * c + i, 0, 256, (4, 4), np.uint8)
                _save(tmp_path / split / name / f"{i}.png", noise)
    with pytest.warns(UserWarning, match=r"test: no images of class\(es\) \['b', 'c'\]"):
        ds = load_dataset(str(tmp_path), val_fraction=0.4)
    assert list(ds.classes) == ["a", "b", "c"]
    assert set(ds.test.y.tolist()) == {0}


def test_the_cli_shows_hwnas_warnings_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hwnas.cli import main

    _mixed_sizes(tmp_path / "imgs", {"a": [(4, 4)] * 8, "b": [(6, 5)] * 8})
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["space", "list"]) == 0  # the hook is set only while a command runs
        from hwnas.cli import _show_warning

        _show_warning(UserWarning("x"), UserWarning, __file__, 1)  # not hwnas's: Python's form
    err = capsys.readouterr().err
    assert "UserWarning: x" in err
    arch = "s8k3|mbconv-c8-k3-e1-d1-s2|-|-|-|h0-f0"
    args = ["train", "convnet", arch, "--data", str(tmp_path / "imgs"), "--epochs", "1"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "hwnas: warning: " in err and "resized 8 of 16 images" in err, err
    assert "UserWarning" not in err and "warnings.warn" not in err
