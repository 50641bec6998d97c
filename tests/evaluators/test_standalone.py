"""The standalone evaluator: trains from scratch on train, measures on val, never reads test."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hwnas import __version__
from hwnas.data import Dataset, load_dataset
from hwnas.errors import ArchError, ConfigError
from hwnas.evaluators import StandaloneEvaluator, create_evaluator
from hwnas.spaces import MBConvSpace, NB201Space
from hwnas.train import Recipe

TINY = "w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1"
RECIPE = Recipe(epochs=1, batch_size=128)


class _Forbidden:
    """Stands in for the test split: any use of it fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the test split was read (.{name})")

    def __len__(self) -> int:
        raise AssertionError("the test split was read (len)")


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", seed=0)


def test_trains_on_train_and_reports_val_metrics_without_reading_test(digits: Dataset) -> None:
    no_test = dataclasses.replace(digits, test=_Forbidden())  # type: ignore[arg-type]
    evaluator = StandaloneEvaluator(MBConvSpace(), no_test, RECIPE, seed=3, threads=1)
    arch = evaluator.space.parse(TINY)
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    first = evaluator.evaluate(arch)
    assert torch.get_num_threads() == threads  # restored
    assert torch.equal(torch.random.get_rng_state(), state)
    assert set(first.metrics) == {"accuracy", "val_loss"}
    assert 0.0 <= first.metrics["accuracy"] <= 1.0
    assert first.metrics["val_loss"] > 0.0
    assert first.cost_seconds > 0.0
    assert first.info["epochs"] == 1 and first.info["threads"] == 1
    second = evaluator.evaluate(arch)
    assert second.metrics == first.metrics  # same seed, same threads: same numbers


def test_cache_key_names_everything_the_result_depends_on(digits: Dataset) -> None:
    evaluator = StandaloneEvaluator("mbconv", digits, {"epochs": 2}, seed=7)
    key = evaluator.cache_key()
    assert key == {
        "space": MBConvSpace().fingerprint(),
        "dataset": digits.fingerprint,
        "recipe": Recipe(epochs=2).to_dict(),
        "seed": 7,
        "hwnas": __version__,
    }
    assert StandaloneEvaluator("mbconv", digits, Recipe(epochs=2), seed=7).cache_key() == key
    assert StandaloneEvaluator("mbconv", digits, Recipe(epochs=2), seed=8).cache_key() != key
    assert StandaloneEvaluator("mbconv", digits, Recipe(epochs=3), seed=7).cache_key() != key


def test_registered_and_built_from_names(digits: Dataset) -> None:
    evaluator = create_evaluator("standalone", space="nb201", dataset=digits)
    assert isinstance(evaluator, StandaloneEvaluator)
    assert isinstance(evaluator.space, NB201Space)
    assert evaluator.recipe == Recipe()


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"seed": -1}, "seed"),
        ({"threads": 0}, "threads"),
        ({"recipe": {"epochz": 1}}, "recipe"),
        ({"recipe": "fast"}, "recipe"),
        ({"recipe": {"epochs": 0}}, "epochs"),
        ({"space": "nope"}, "space"),
    ],
)
def test_invalid_arguments_name_the_field(
    digits: Dataset, kwargs: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {"space": "mbconv", "dataset": digits, **kwargs}
    with pytest.raises(ConfigError, match=field):
        StandaloneEvaluator(**args)  # type: ignore[arg-type]


def test_architecture_of_another_space_is_refused(digits: Dataset) -> None:
    evaluator = StandaloneEvaluator("mbconv", digits, RECIPE)
    with pytest.raises(ArchError, match="nb201"):
        evaluator.evaluate(NB201Space().from_index(0))
