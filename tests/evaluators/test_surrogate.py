"""The surrogate evaluator: fitted on observations, predicts accuracy with an uncertainty."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from hwnas.benchmarks_table import load_table
from hwnas.errors import ArchError, ConfigError, HwnasError
from hwnas.evaluators import SurrogateEvaluator, create_evaluator
from hwnas.spaces import MBConvSpace, NB201Space

SPACE = NB201Space()


def _nb201_sample(n: int, seed: int) -> tuple[list, list[float]]:
    """``n`` distinct NB201 architectures and their CIFAR-10 accuracy (fraction)."""
    table = load_table()
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(table), size=n, replace=False)
    archs = [SPACE.parse(table.archs[int(i)]) for i in rows]
    accuracies = [table.value(a, "acc_cifar10_test") / 100 for a in archs]
    return archs, accuracies


@pytest.mark.parametrize("model", ["gp", "rf", "gbr"])
def test_predictions_rank_held_out_architectures(model: str) -> None:
    archs, acc = _nb201_sample(140, seed=1)
    surrogate = SurrogateEvaluator(SPACE, model=model, seed=0)
    surrogate.observe_many(archs[:60], acc[:60])
    surrogate.fit()
    mean, std = surrogate.predict(archs[60:])
    assert mean.shape == std.shape == (80,)
    assert np.all((mean >= 0) & (mean <= 1)) and np.all(std >= 0)
    tau = kendalltau(mean, acc[60:])[0]
    assert tau > 0.25, f"{model}: Kendall tau {tau:.3f}"
    result = surrogate.evaluate(archs[60])
    assert set(result.metrics) == {"accuracy", "accuracy_std"}
    assert result.metrics["accuracy"] == pytest.approx(mean[0])
    assert result.metrics["accuracy_std"] == pytest.approx(std[0])
    assert result.info == {"model": model, "n_observations": 60}
    assert math.isfinite(result.cost_seconds)


def test_not_fitted_and_too_few_observations_are_errors() -> None:
    archs, acc = _nb201_sample(2, seed=0)
    surrogate = SurrogateEvaluator("nb201")
    with pytest.raises(HwnasError, match="not fitted"):
        surrogate.evaluate(archs[0])
    surrogate.observe(archs[0], acc[0])
    with pytest.raises(HwnasError, match="at least 2 observations, got 1"):
        surrogate.fit()
    surrogate.observe(archs[1], acc[1])
    assert surrogate.fit().is_fitted


def test_cache_key_follows_the_fitted_observations_not_their_order() -> None:
    archs, acc = _nb201_sample(6, seed=2)
    a = SurrogateEvaluator(SPACE, "rf", seed=3)
    b = SurrogateEvaluator(SPACE, "rf", seed=3)
    a.observe_many(archs[:5], acc[:5])
    b.observe_many(archs[:5][::-1], acc[:5][::-1])
    assert a.cache_key()["observations"] is None
    key = a.fit().cache_key()
    assert b.fit().cache_key() == key  # same observations, any order: same key...
    assert a.evaluate(archs[5]).metrics == b.evaluate(archs[5]).metrics  # ...same prediction
    a.observe(archs[5], acc[5])
    assert a.cache_key() == key  # not refitted yet: predictions still come from the old fit
    assert a.fit().cache_key() != key
    assert a.cache_key()["n_observations"] == 6
    assert (
        SurrogateEvaluator(SPACE, "rf", seed=4).cache_key()
        != SurrogateEvaluator(SPACE, "rf", seed=3).cache_key()
    )


def test_mbconv_space_one_hot_features() -> None:
    space = MBConvSpace()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(8)]
    surrogate = create_evaluator("surrogate", space=space, model="gbr")
    assert isinstance(surrogate, SurrogateEvaluator)
    features = surrogate._one_hot([space.encode(a) for a in archs])
    assert features.shape == (8, sum(space.n_choices))
    assert np.all(features.sum(1) == space.n_dims)
    surrogate.observe_many(archs, np.linspace(0.2, 0.9, 8))
    assert 0.0 <= surrogate.fit().evaluate(space.sample(rng)).metrics["accuracy"] <= 1.0


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan"), "0.5", True])
def test_invalid_accuracy_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="accuracy"):
        SurrogateEvaluator(SPACE).observe(SPACE.from_index(0), value)  # type: ignore[arg-type]


def test_invalid_arguments() -> None:
    with pytest.raises(ConfigError, match="model"):
        SurrogateEvaluator(SPACE, model="xgb")
    with pytest.raises(ConfigError, match="seed"):
        SurrogateEvaluator(SPACE, seed=-1)
    surrogate = SurrogateEvaluator(SPACE)
    with pytest.raises(ConfigError, match="accuracies"):
        surrogate.observe_many([SPACE.from_index(0)], [0.5, 0.6])
    with pytest.raises(ArchError, match="mbconv"):
        surrogate.observe(MBConvSpace().sample(np.random.default_rng(0)), 0.5)
