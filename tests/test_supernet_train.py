"""Supernet training: sandwich steps, checkpoints, exact resumption, output folder, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from hwnas.cli import main
from hwnas.data import Dataset, load_dataset
from hwnas.errors import ConfigError, HwnasError
from hwnas.evaluators.supernet import SupernetEvaluator
from hwnas.nn.supernet import build_supernet, load_supernet, train_supernet, weights_sha256
from hwnas.spaces import MBConvSpace, NB201Space, create_space
from hwnas.train import Recipe

from .conftest import tiny_digits

SPACES = {
    "mbconv": MBConvSpace(
        stage_channels=(8, 16),
        stage_strides=(2, 2),
        depths=(1, 2),
        kernels=(3, 5),
        expands=(1, 3),
        widths=(0.5, 1.0),
        stem_channels=8,
        head_channels=16,
    ),
    "nb201": NB201Space(channels=(4, 8, 8), cells_per_stage=1),
    "convnet": create_space(
        "convnet", num_stages=2, stem_channels=(8,), widths=(8, 16), head_channels=(0, 16)
    ),
}
RECIPE = Recipe(epochs=2, batch_size=32, warmup_epochs=1)


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    """96 training and 48 val digits."""
    return tiny_digits()


def _train(name: str, data: Dataset, **kwargs):
    supernet = build_supernet(SPACES[name], data.input_shape, data.num_classes, seed=0)
    return supernet, train_supernet(supernet, data, RECIPE, seed=0, **kwargs)


@pytest.mark.parametrize("name", sorted(SPACES))
def test_resumed_training_equals_uninterrupted(name: str, tiny: Dataset, tmp_path) -> None:
    straight, full = _train(name, tiny, out_dir=tmp_path / "a")
    _, partial = _train(name, tiny, out_dir=tmp_path / "b", stop_after=1)
    assert partial.epochs_done == 1 and not partial.complete
    assert not (tmp_path / "b" / "weights.pt").exists()
    assert json.loads((tmp_path / "b" / "supernet.json").read_text())["complete"] is False
    resumed, result = _train(name, tiny, out_dir=tmp_path / "b")  # a fresh process would do this
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert result.weights_sha256 == full.weights_sha256
    assert result.subnets == full.subnets
    losses = [(h["loss_largest"], h["loss"]) for h in result.history]
    assert losses == [(h["loss_largest"], h["loss"]) for h in full.history]
    info_a = json.loads((tmp_path / "a" / "supernet.json").read_text())
    info_b = json.loads((tmp_path / "b" / "supernet.json").read_text())
    assert info_a["weights_sha256"] == info_b["weights_sha256"] == full.weights_sha256
    assert info_a["epochs_done"] == 2 and info_a["complete"] is True
    checkpoint = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 2
    assert set(checkpoint) >= {"model", "optimizer", "scheduler", "generator", "torch_rng"}


def test_training_is_deterministic_and_leaves_global_rng(tiny: Dataset) -> None:
    torch.manual_seed(99)
    before = torch.get_rng_state()
    a, _ = _train("mbconv", tiny, distill=False, num_random=1)
    assert torch.equal(torch.get_rng_state(), before)
    b, _ = _train("mbconv", tiny, distill=False, num_random=1)
    assert weights_sha256(a.state_dict()) == weights_sha256(b.state_dict())
    c, _ = _train("mbconv", tiny, distill=True, num_random=1)
    assert weights_sha256(a.state_dict()) != weights_sha256(c.state_dict())


def test_resume_with_other_settings_is_refused(tiny: Dataset, tmp_path) -> None:
    _train("nb201", tiny, out_dir=tmp_path, stop_after=1)
    supernet = build_supernet(SPACES["nb201"], tiny.input_shape, tiny.num_classes, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        train_supernet(supernet, tiny, RECIPE, seed=1, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="recipe"):
        train_supernet(supernet, tiny, Recipe(epochs=3), out_dir=tmp_path)
    with pytest.raises(ConfigError, match="num_random"):
        train_supernet(supernet, tiny, RECIPE, num_random=-1)


def test_load_supernet_checks_the_weights(tiny: Dataset, tmp_path) -> None:
    _, result = _train("nb201", tiny, out_dir=tmp_path)
    loaded = load_supernet(tmp_path)
    assert loaded.weights_sha256 == result.weights_sha256
    assert loaded.info["space_config"] == SPACES["nb201"].config()
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    state["classifier.bias"] += 1.0
    torch.save(state, tmp_path / "weights.pt")
    with pytest.raises(HwnasError, match="SHA-256"):
        load_supernet(tmp_path)
    with pytest.raises(HwnasError, match="no such file"):
        load_supernet(tmp_path / "missing")


def test_cli_train_resume_and_eval(tmp_path, capsys) -> None:
    ds = load_dataset("digits")
    x = ds.train.x[:80].numpy()[:, 0]
    x = ((x - x.min()) / (x.max() - x.min()) * 255).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=ds.train.y[:80].numpy())
    data = f"npz:{tmp_path / 'd.npz'}"
    out = tmp_path / "run"
    args = ["supernet", "train", "--space", "mbconv", "--data", data, "--epochs", "1"]
    args += ["--out", str(out), "--batch-size", "64", "--random-subnets", "0", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["complete"] and set(first["subnets"]) == {"largest", "smallest"}
    info = json.loads((out / "supernet.json").read_text())
    assert info["space"] == "mbconv" and info["input_shape"] == [1, 8, 8]
    assert info["dataset"]["spec"].startswith("npz:/")
    assert main(args) == 0  # resumes: nothing left to train, same weights
    assert json.loads(capsys.readouterr().out)["weights_sha256"] == first["weights_sha256"]
    arch = "w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1"
    assert main(["supernet", "eval", str(out), arch, "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["metrics"]["accuracy"] == pytest.approx(
        first["subnets"]["smallest"]["accuracy"]
    )
    assert main([*args[:-1], "--seed", "3", "--json"]) == 2
    assert "seed" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(SPACES))
def test_channels_last_trains_the_same_supernet_up_to_rounding(name: str, tiny: Dataset) -> None:
    supernets = {}
    for channels_last in (False, True):
        supernet = build_supernet(SPACES[name], tiny.input_shape, tiny.num_classes, seed=0)
        recipe = dataclasses.replace(RECIPE, channels_last=channels_last)
        supernets[channels_last] = (supernet, train_supernet(supernet, tiny, recipe, seed=0))
    (plain, plain_result), (fast, fast_result) = supernets[False], supernets[True]
    for key, value in fast.state_dict().items():
        assert value.is_contiguous(), key  # handed back in the ordinary format
        if value.dtype.is_floating_point:
            assert torch.allclose(value, plain.state_dict()[key], atol=1e-4), key
    for subnet, measured in fast_result.subnets.items():
        expected = plain_result.subnets[subnet]
        assert measured["accuracy"] == pytest.approx(expected["accuracy"], abs=1 / 48)
        assert measured["loss"] == pytest.approx(expected["loss"], rel=1e-3)


def test_threads_and_memory_format_may_change_on_resume(tiny: Dataset, tmp_path) -> None:
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _train("nb201", tiny, out_dir=tmp_path, stop_after=1)
        supernet = build_supernet(SPACES["nb201"], tiny.input_shape, tiny.num_classes, seed=0)
        recipe = dataclasses.replace(RECIPE, threads=2, channels_last=False)
        result = train_supernet(supernet, tiny, recipe, seed=0, out_dir=tmp_path)
        assert torch.get_num_threads() == 1  # training threads never leak to the caller
    finally:
        torch.set_num_threads(previous)
    assert result.complete
    assert [h["threads"] for h in result.history] == [1, 2]
    info = json.loads((tmp_path / "supernet.json").read_text())
    assert info["threads"] == 2 and info["recipe"]["channels_last"] is False


@pytest.mark.parametrize("name", sorted(SPACES))
def test_channels_last_evaluation_gives_the_same_results(name: str, tiny: Dataset) -> None:
    supernet = build_supernet(SPACES[name], tiny.input_shape, tiny.num_classes, seed=0)
    train_supernet(supernet, tiny, RECIPE, seed=0)
    space = SPACES[name]
    archs = [space.largest(), space.smallest(), space.sample(np.random.default_rng(0))]
    plain = SupernetEvaluator(supernet, tiny, calib_batch_size=32, channels_last=False)
    expected = [plain.evaluate(arch).metrics for arch in archs]
    fast = SupernetEvaluator(supernet, tiny, calib_batch_size=32)
    for arch, metrics in zip(archs, expected, strict=True):
        got = fast.evaluate(arch)
        assert got.info["channels_last"] is True
        assert got.metrics["accuracy"] == pytest.approx(metrics["accuracy"], abs=1 / 48)
        assert got.metrics["val_loss"] == pytest.approx(metrics["val_loss"], rel=1e-4)
