"""The training recipe: validation, determinism, learning, and the held-out test split."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hwnas.data import Dataset, Split, load_dataset
from hwnas.errors import ConfigError
from hwnas.spaces import MBConvSpace, create_space
from hwnas.train import Recipe, augment_batch, evaluate, train_arch

TINY = "w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1"


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", seed=0)


@pytest.mark.parametrize(
    "field,value",
    [
        ("epochs", 0),
        ("batch_size", -1),
        ("optimizer", "rmsprop"),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("momentum", 1.0),
        ("weight_decay", -1.0),
        ("label_smoothing", 1.0),
        ("augment", "mixup"),
        ("epochs", 2.5),
    ],
)
def test_recipe_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        Recipe(**{field: value})  # type: ignore[arg-type]


def test_recipe_round_trips_through_dict() -> None:
    recipe = Recipe(epochs=3, optimizer="adamw", lr=1e-3)
    assert Recipe(**recipe.to_dict()) == recipe


def test_same_seed_same_model_different_seed_different(digits: Dataset) -> None:
    space = MBConvSpace()
    arch = space.parse(TINY)
    recipe = Recipe(epochs=1, batch_size=128)
    state = torch.random.get_rng_state()
    m1, r1 = train_arch(space, arch, digits, recipe, seed=5)
    m2, r2 = train_arch(space, arch, digits, recipe, seed=5)
    m3, _ = train_arch(space, arch, digits, recipe, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert r1.val_accuracy == r2.val_accuracy
    assert r1.history == r2.history
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(m1.state_dict().values(), m3.state_dict().values(), strict=True)
    )


def test_training_learns_digits(digits: Dataset) -> None:
    space = create_space("mbconv")
    _, result = train_arch(
        space, space.parse(TINY), digits, Recipe(epochs=8), seed=0, evaluate_test=True
    )
    assert result.val_accuracy > 0.85
    assert result.test_accuracy is not None and result.test_accuracy > 0.85
    assert len(result.history) == 8
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_training_never_reads_the_test_split(digits: Dataset) -> None:
    poisoned = dataclasses.replace(
        digits,
        test=Split(torch.full_like(digits.test.x, float("nan")), digits.test.y.clone()),
    )
    space = create_space("mbconv")
    model, result = train_arch(space, space.parse(TINY), poisoned, Recipe(epochs=1), seed=0)
    assert result.test_accuracy is None
    assert 0.0 < result.val_accuracy <= 1.0
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_evaluate_counts_correct_predictions() -> None:
    class Fixed(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 3).float()

    split = Split(torch.zeros(4, 1, 2, 2), torch.tensor([0, 0, 1, 2]))
    accuracy, loss = evaluate(Fixed(), split, batch_size=3)
    assert accuracy == 0.5
    assert loss > 0


def test_shift_augmentation_moves_pixels() -> None:
    x = torch.zeros(64, 1, 5, 5)
    x[:, :, 2, 2] = 1.0
    out = augment_batch(x, "shift", 1, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.allclose(out.sum((1, 2, 3)), torch.ones(64))  # one pixel, moved by <= 1
    centre = (out[:, 0, 1:4, 1:4] == 1).flatten(1).any(1)
    assert centre.all()
    assert not torch.equal(out, x)
    assert torch.equal(augment_batch(x, "none", 1, torch.Generator()), x)
