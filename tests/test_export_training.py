"""Export's final training in the run's worker processes: the same models as here."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hwnas.config import validate_config
from hwnas.data import Split
from hwnas.errors import HwnasError
from hwnas.export.training import POOL_MIN_MODELS, train_models
from hwnas.spaces import create_space
from hwnas.train import Recipe

from .conftest import tiny_digits


def _components(executor: dict) -> SimpleNamespace:
    config = validate_config(
        {"space": {"name": "convnet"}, "objectives": ["error", "macs"], "executor": executor}
    )
    return SimpleNamespace(config=config, space=create_space("convnet"), dataset=tiny_digits())


def test_models_trained_in_the_pool_are_the_models_trained_here() -> None:
    space = create_space("convnet")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(POOL_MIN_MODELS)]
    recipe = Recipe(epochs=1, batch_size=32)
    # timeout_s is the search's: a final training is not held to it.
    pooled = train_models(
        archs, _components({"name": "process", "workers": 2, "timeout_s": 0.01}), recipe, 3
    )
    here = train_models(archs, _components({"name": "inline"}), recipe, 3)
    assert len(pooled) == len(here) == len(archs)
    for (a, ra, _), (b, rb, _) in zip(pooled, here, strict=True):
        assert not a.training and not b.training
        assert ra.val_accuracy == rb.val_accuracy and ra.test_accuracy == rb.test_accuracy
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), key
        x = tiny_digits().val.x[:8]
        with torch.inference_mode():
            assert torch.equal(a(x), b(x))


def test_a_failed_training_in_a_worker_is_an_error_naming_the_model() -> None:
    space = create_space("convnet")
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(POOL_MIN_MODELS)]
    components = _components({"name": "process", "workers": 2})
    ds = components.dataset
    # Labels past the classes: cross-entropy fails in the worker, on every attempt.
    components.dataset = dataclasses.replace(ds, train=Split(ds.train.x, ds.train.y + 50))
    with pytest.raises(HwnasError, match=r"training .* failed \(2 attempts\): .*out of bounds"):
        train_models(archs, components, Recipe(epochs=1, batch_size=32), 0)
