"""The Ray executor: same results as inline, crashes and hangs survived, clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hwnas.errors import ConfigError, HwnasError
from hwnas.executors import EvalFailure, RayExecutor
from hwnas.runs import search
from hwnas.spaces import NB201Space
from hwnas.store import RunStore

from . import toy  # noqa: F401  (registers the toy evaluator)
from .test_runs import BASE

ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module (workers import the tests package)."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}},
    )
    yield ray
    ray.shutdown()


class _Factory:
    def __init__(self, **options) -> None:  # type: ignore[no-untyped-def]
        self.options = options

    def __call__(self):  # type: ignore[no-untyped-def]
        from tests.search.toy import ToyEvaluator

        return ToyEvaluator(**self.options)


def _run(executor: RayExecutor, n: int) -> dict:
    archs = [NB201Space().from_index(i) for i in range(n)]
    try:
        return dict(executor.run(archs))
    finally:
        executor.close()


def test_a_search_on_ray_matches_the_inline_one(ray_instance, tmp_path) -> None:
    data = json.loads(json.dumps(BASE))
    inline = search(data, runs_dir=tmp_path, run_id="inline")
    data["executor"] = {"name": "ray", "workers": 2}
    on_ray = search(data, runs_dir=tmp_path, run_id="ray")
    assert ray_instance.is_initialized()  # the executor did not shut down a Ray it joined
    archs = {}
    for run in (inline, on_ray):
        with RunStore(run.path / "run.db") as store:
            archs[run.path.name] = sorted(str(c.arch) for c in store.candidates())
    assert archs["ray"] == archs["inline"]
    assert on_ray.result.evaluations == inline.result.evaluations == 40
    # The same front (listed in the order candidates finished, which differs).
    assert sorted(c.arch for c in on_ray.result.pareto) == sorted(
        c.arch for c in inline.result.pareto
    )


def test_a_crashed_actor_is_replaced_and_its_candidate_retried(ray_instance, tmp_path) -> None:
    # The 3rd evaluation kills its actor's process (kill -9).
    factory = _Factory(kill_at=3, counter=str(tmp_path / "n"))
    outcomes = _run(RayExecutor(factory, workers=2, retries=1), 6)
    assert sorted(outcomes) == list(range(6))
    assert (tmp_path / "n.killed").exists()  # the kill did happen
    assert all(not isinstance(o, EvalFailure) for o in outcomes.values())


def test_a_crashed_actor_without_retries_is_recorded(ray_instance, tmp_path) -> None:
    factory = _Factory(kill_at=3, counter=str(tmp_path / "n"))
    outcomes = _run(RayExecutor(factory, workers=2, retries=0), 6)
    assert sorted(outcomes) == list(range(6)) and (tmp_path / "n.killed").exists()
    failed = [o for o in outcomes.values() if isinstance(o, EvalFailure)]
    assert len(failed) == 1  # only the killed actor's candidate; the other actor went on
    assert failed[0].error == "worker actor died" and failed[0].attempts == 1


def test_a_hanging_candidate_times_out_and_others_finish(ray_instance) -> None:
    outcomes = _run(RayExecutor(_Factory(sleep=30.0), workers=1, timeout_s=2.0, retries=0), 1)
    assert isinstance(outcomes[0], EvalFailure) and "exceeded 2.0 s" in outcomes[0].error


def test_a_failing_candidate_is_recorded_with_its_error(ray_instance) -> None:
    # Only architecture 1 of the first three has 3x3 convolutions on both edges from node 0.
    factory = _Factory(fail_on="|nor_conv_3x3~0|+|nor_conv_3x3~0|")
    outcomes = _run(RayExecutor(factory, workers=2, retries=1), 3)
    failure = outcomes[1]
    assert isinstance(failure, EvalFailure) and failure.attempts == 2
    assert "cannot be evaluated" in failure.error
    assert not isinstance(outcomes[0], EvalFailure)


def test_options_are_checked_and_a_missing_ray_is_explained(monkeypatch) -> None:
    with pytest.raises(ConfigError, match=r"executor\.workers"):
        RayExecutor(_Factory(), workers=0)
    with pytest.raises(ConfigError, match=r"executor\.cpus_per_worker"):
        RayExecutor(_Factory(), cpus_per_worker=-1)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(HwnasError, match=r"pip install 'hwnas\[ray\]'"):
        _run(RayExecutor(_Factory()), 1)
