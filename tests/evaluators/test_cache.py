"""The evaluation cache: hits, misses on any key change, corrupt rows, concurrent writers."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hwnas.data import Dataset, load_dataset
from hwnas.errors import DataError
from hwnas.evaluators import (
    CachedEvaluator,
    EvalCache,
    EvalResult,
    Evaluator,
    StandaloneEvaluator,
    TabularEvaluator,
    cache_key,
)
from hwnas.spaces import Arch, MBConvSpace, NB201Space
from hwnas.train import Recipe

TINY = "w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1"
NB = NB201Space()


class CountingEvaluator(Evaluator):
    """A cheap deterministic evaluator that counts its calls."""

    name = "counting"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.calls = 0

    def evaluate(self, arch: Arch) -> EvalResult:
        self.calls += 1
        digest = hashlib.sha256(f"{arch}/{self.seed}".encode()).digest()
        return EvalResult(
            metrics={"accuracy": digest[0] / 255, "val_loss": 1 / 3 + digest[1]},
            cost_seconds=0.1 * digest[2],
            info={"note": "fresh", "n": [1, 2]},
        )

    def cache_key(self) -> dict[str, Any]:
        return {"seed": self.seed}


@pytest.fixture
def cache(tmp_path: Path) -> EvalCache:
    return EvalCache(tmp_path / "sub" / "cache.sqlite")


def test_key_is_the_documented_hash() -> None:
    evaluator = CountingEvaluator(seed=5)
    arch = NB.from_index(7)
    payload = json.dumps(
        {"arch": str(arch), "space": NB.fingerprint(), "evaluator": "counting", "key": {"seed": 5}},
        sort_keys=True,
    )
    assert cache_key(arch, evaluator, NB) == hashlib.sha256(payload.encode()).hexdigest()


def test_repeated_evaluation_hits_with_identical_numbers(cache: EvalCache) -> None:
    inner = CountingEvaluator()
    cached = CachedEvaluator(inner, cache, NB)
    arch = NB.from_index(3)
    first = cached.evaluate(arch)
    second = cached.evaluate(arch)
    assert inner.calls == 1 and (cached.hits, cached.misses) == (1, 1)
    assert first.info == {"note": "fresh", "n": [1, 2], "cache": "miss"}
    assert second.info == {"note": "fresh", "n": [1, 2], "cache": "hit"}
    assert second.metrics == first.metrics == inner.evaluate(arch).metrics  # bit-identical
    assert second.cost_seconds == first.cost_seconds
    assert cached.cache_key() == {"evaluator": "counting", "key": {"seed": 0}}
    # A second cache object on the same file (another run) hits too.
    again = CachedEvaluator(CountingEvaluator(), EvalCache(cache.path), NB)
    assert again.evaluate(arch).info["cache"] == "hit"
    assert len(cache) == 1


def test_any_change_of_the_key_misses(cache: EvalCache) -> None:
    arch = NB.from_index(11)
    base = CachedEvaluator(CountingEvaluator(seed=0), cache, NB)
    assert base.evaluate(arch).info["cache"] == "miss"
    assert base.evaluate(arch).info["cache"] == "hit"
    other_seed = CachedEvaluator(CountingEvaluator(seed=1), cache, NB)
    other_space = CachedEvaluator(CountingEvaluator(seed=0), cache, NB201Space(channels=(8, 8, 8)))
    assert other_seed.evaluate(arch).info["cache"] == "miss"
    assert other_space.evaluate(arch).info["cache"] == "miss"
    assert base.evaluate(NB.from_index(12)).info["cache"] == "miss"
    assert len(cache) == 4


def test_tabular_column_change_misses(cache: EvalCache) -> None:
    arch = NB.from_index(6111)
    c10 = CachedEvaluator(TabularEvaluator(NB, "acc_cifar10_test"), cache, NB)
    c100 = CachedEvaluator(TabularEvaluator(NB, "acc_cifar100_test"), cache, NB)
    assert c10.evaluate(arch).info["cache"] == "miss"
    hit = c10.evaluate(arch)
    assert hit.info["cache"] == "hit" and hit.metrics["accuracy"] == pytest.approx(0.943733)
    assert c100.evaluate(arch).info["cache"] == "miss"


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", seed=0)


def test_standalone_keys_change_with_seed_recipe_dataset_and_space(digits: Dataset) -> None:
    space = MBConvSpace()
    arch = space.parse(TINY)
    recipe = Recipe(epochs=1, batch_size=128)

    def key(**changes: Any) -> str:
        args: dict[str, Any] = {"space": space, "dataset": digits, "recipe": recipe, "seed": 0}
        args.update(changes)
        return cache_key(arch, StandaloneEvaluator(**args), args["space"])

    base = key()
    assert key() == base
    assert key(threads=1) == base  # the thread count is not part of the key
    assert key(seed=1) != base
    assert key(recipe=Recipe(epochs=2, batch_size=128)) != base
    assert key(dataset=load_dataset("digits", seed=1)) != base
    assert key(space=MBConvSpace(head_channels=256)) != base


def test_standalone_result_is_cached(cache: EvalCache, digits: Dataset) -> None:
    space = MBConvSpace()
    evaluator = StandaloneEvaluator(space, digits, Recipe(epochs=1, batch_size=128), threads=1)
    cached = CachedEvaluator(evaluator, cache, space)
    first = cached.evaluate(space.parse(TINY))
    second = cached.evaluate(space.parse(TINY))
    assert (first.info["cache"], second.info["cache"]) == ("miss", "hit")
    assert second.metrics == first.metrics and second.cost_seconds == first.cost_seconds


@pytest.mark.parametrize("bad", ["{not json", '{"metrics": 3}', "[]", '{"metrics": {}}'])
def test_corrupt_row_is_a_miss_and_is_overwritten(cache: EvalCache, bad: str) -> None:
    inner = CountingEvaluator()
    cached = CachedEvaluator(inner, cache, NB)
    arch = NB.from_index(1)
    good = cached.evaluate(arch)
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE evaluations SET result = ?", (bad,))
    assert cache.get(cached.key(arch)) is None
    again = cached.evaluate(arch)
    assert again.info["cache"] == "miss" and inner.calls == 2
    assert again.metrics == good.metrics
    with sqlite3.connect(cache.path) as db:
        (stored,) = db.execute("SELECT result FROM evaluations").fetchone()
    assert json.loads(stored)["metrics"] == good.metrics
    assert cached.evaluate(arch).info["cache"] == "hit"


def test_first_readable_result_wins(cache: EvalCache) -> None:
    one = EvalResult({"accuracy": 0.5}, 1.0)
    two = EvalResult({"accuracy": 0.6}, 1.0)
    assert cache.put("k", "arch", "e", one) is True
    assert cache.put("k", "arch", "e", two) is False
    stored = cache.get("k")
    assert stored is not None and stored.metrics == {"accuracy": 0.5}
    assert "k" in cache and "other" not in cache


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="SQLite"):
        EvalCache(path)


def _writer(path: str, worker: int, n: int, done: Any) -> None:
    cache = EvalCache(path)
    cached = CachedEvaluator(CountingEvaluator(), cache, NB)
    for i in range(n):
        # Half the keys are shared with the other worker, half are its own.
        index = i if i % 2 == 0 else 1000 * (worker + 1) + i
        cached.evaluate(NB.from_index(index))
    done.put(worker)


def test_concurrent_writers_do_not_corrupt(cache: EvalCache) -> None:
    context = multiprocessing.get_context("fork")
    done = context.Queue()
    n = 100
    workers = [
        context.Process(target=_writer, args=(str(cache.path), w, n, done)) for w in range(2)
    ]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(done.get(timeout=5) for _ in workers) == [0, 1]
    assert len(cache) == n // 2 + 2 * (n // 2)  # shared keys once, own keys per worker
    reference = CountingEvaluator()
    check = CachedEvaluator(reference, cache, NB)
    for index in [*range(0, n, 2), *(1000 + i for i in range(1, n, 2))]:
        result = check.evaluate(NB.from_index(index))
        assert result.info["cache"] == "hit"
        assert result.metrics == reference.evaluate(NB.from_index(index)).metrics
    with sqlite3.connect(cache.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_cache_pickles_as_its_path(cache: EvalCache) -> None:
    cache.put("k", "arch", "e", EvalResult({"accuracy": 0.25}, 0.0))
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.path == cache.path
    stored = copy.get("k")
    assert stored is not None and stored.metrics == {"accuracy": 0.25}
    copy.close()
