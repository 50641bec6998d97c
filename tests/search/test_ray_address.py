"""A Ray cluster that cannot be joined is named by its setting, executor.address."""

from __future__ import annotations

import pytest

from hwnas.errors import HwnasError
from hwnas.executors import RayExecutor

from .test_ray_executor import _Factory, _run


def test_a_cluster_that_cannot_be_joined_is_named_by_its_setting(monkeypatch) -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray instance of another test is running")

    def refuse(**options):  # type: ignore[no-untyped-def]
        raise ConnectionError(
            "Could not find any running Ray instance. Please specify the one to connect to "
            "by setting `--address` flag or `RAY_ADDRESS` environment variable."
        )

    monkeypatch.setattr(ray, "init", refuse)
    executor = RayExecutor(_Factory(), workers=1, address="10.255.255.1:6379")
    with pytest.raises(HwnasError, match=r"^executor\.address: could not join a Ray cluster"):
        _run(executor, 1)


def test_gpus_per_worker_on_a_machine_without_a_gpu_is_refused() -> None:
    import torch

    from hwnas.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ConfigError, match=r"^executor\.gpus_per_worker: expected 0 on this"):
        RayExecutor(_Factory(), workers=1, gpus_per_worker=1)
    RayExecutor(_Factory(), workers=1, gpus_per_worker=1, address="auto")  # a cluster's GPUs


def test_ray_not_installed_is_refused_with_the_config(monkeypatch) -> None:
    import importlib.util

    from hwnas.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"'ray' needs Ray \(pip install 'hwnas\[ray\]'\)"):
        RayExecutor(_Factory(), workers=1)
