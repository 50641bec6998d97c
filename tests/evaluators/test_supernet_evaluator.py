"""The ``supernet`` evaluator: inherited weights, recalibration, cache keys, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwnas.data import Dataset
from hwnas.errors import ArchError, ConfigError
from hwnas.evaluators import EvalResult, create_evaluator
from hwnas.evaluators.supernet import SupernetEvaluator
from hwnas.nn.supernet import build_supernet, train_supernet, weights_sha256
from hwnas.spaces import MBConvSpace, create_space
from hwnas.train import Recipe

from ..conftest import tiny_digits

SPACE = MBConvSpace(
    stage_channels=(8, 16),
    stage_strides=(2, 2),
    depths=(1, 2),
    kernels=(3, 5),
    expands=(1, 3),
    stem_channels=8,
    head_channels=16,
)


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return tiny_digits()


@pytest.fixture(scope="module")
def trained(tiny: Dataset, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("supernet")
    supernet = build_supernet(SPACE, tiny.input_shape, tiny.num_classes, seed=0)
    train_supernet(supernet, tiny, Recipe(epochs=1, batch_size=48), num_random=1, out_dir=folder)
    return folder, supernet


def test_evaluate_from_folder_is_deterministic_and_pure(trained, tiny: Dataset) -> None:
    folder, _ = trained
    evaluator = create_evaluator("supernet", supernet=folder, dataset=tiny, calib_batches=2)
    assert isinstance(evaluator, SupernetEvaluator)
    before = weights_sha256(evaluator.supernet.state_dict())
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(3)]
    first = [evaluator.evaluate(a) for a in archs]
    again = [evaluator.evaluate(a) for a in reversed(archs)][::-1]
    assert [r.metrics for r in first] == [r.metrics for r in again]
    assert weights_sha256(evaluator.supernet.state_dict()) == before == evaluator.weights_sha256
    for result in first:
        assert isinstance(result, EvalResult)
        assert set(result.metrics) == {"accuracy", "val_loss"}
        assert 0.0 <= result.metrics["accuracy"] <= 1.0
        assert result.cost_seconds > 0
        assert result.info["weights_sha256"] == before


def test_folder_and_loaded_supernet_agree(trained, tiny: Dataset) -> None:
    folder, supernet = trained
    from_folder = SupernetEvaluator(folder, tiny)
    from_object = SupernetEvaluator(supernet, tiny)
    assert from_folder.cache_key() == from_object.cache_key()
    arch = SPACE.largest()
    assert from_folder.evaluate(arch).metrics == from_object.evaluate(arch).metrics


def test_cache_key_covers_every_setting(trained, tiny: Dataset) -> None:
    folder, _ = trained
    key = SupernetEvaluator(folder, tiny).cache_key()
    assert {
        "space",
        "dataset",
        "weights_sha256",
        "calib_batches",
        "calib_batch_size",
        "seed",
    } <= set(key)
    assert key["dataset"] == tiny.fingerprint
    assert key["space"] == SPACE.fingerprint()
    for change in ({"calib_batches": 2}, {"calib_batch_size": 16}, {"seed": 1}):
        assert SupernetEvaluator(folder, tiny, **change).cache_key() != key


def test_errors_name_the_field(trained, tiny: Dataset) -> None:
    folder, supernet = trained
    evaluator = SupernetEvaluator(folder, tiny)
    with pytest.raises(ArchError, match="nb201"):
        evaluator.evaluate(create_space("nb201").largest())
    with pytest.raises(ConfigError, match="calib_batches"):
        SupernetEvaluator(folder, tiny, calib_batches=0)
    with pytest.raises(ConfigError, match="dataset"):
        SupernetEvaluator(supernet)
    with pytest.raises(ConfigError, match="dataset"):
        SupernetEvaluator(folder, dataclasses.replace(tiny, fingerprint="other"))
    with pytest.raises(ConfigError, match="supernet"):
        SupernetEvaluator(42, tiny)  # type: ignore[arg-type]
