"""A Ray cluster that cannot be joined is named by its setting, executor.address."""

from __future__ import annotations

import importlib.util

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
        RayExecutor(_Factory(), workers=1, gpus_per_worker=1).check_here()
    # A cluster's GPUs (Ray need not be installed for the GPU check to pass).
    executor = RayExecutor(_Factory(), workers=1, gpus_per_worker=1, address="auto")
    if importlib.util.find_spec("ray") is not None:
        executor.check_here()


def test_a_run_searched_elsewhere_opens_here_and_only_a_search_is_refused(tmp_path) -> None:
    # A run made on a Ray cluster with GPUs is still reported and exported on a laptop;
    # searching (or resuming) with it here is what is refused, before a run folder exists.
    import torch

    from hwnas.config import check_runnable_here, validate_config
    from hwnas.errors import ConfigError
    from hwnas.runs import open_run, search

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    config = {
        "name": "elsewhere",
        "data": {"name": "digits"},
        "space": {"name": "convnet"},
        "objectives": ["error", "macs"],
        "evaluator": {"name": "standalone", "recipe": {"epochs": 1}},
        "termination": {"evaluations": 2},
        "batch_size": 2,
    }
    here = search(config, runs_dir=tmp_path, run_id="r")
    ray_gpu = {"name": "ray", "workers": 2, "gpus_per_worker": 1}
    validated = validate_config({**config, "executor": ray_gpu})  # a config that is valid
    with pytest.raises(ConfigError, match=r"^executor\.gpus_per_worker"):
        check_runnable_here(validated)
    with pytest.raises(ConfigError, match=r"^executor\.gpus_per_worker"):
        search({**config, "executor": ray_gpu}, runs_dir=tmp_path, run_id="s")
    assert not (tmp_path / "s").exists() and not (tmp_path / ".s.partial").exists()
    # The same run's folder as if searched on the cluster: it opens.
    import yaml

    from hwnas.store import RunStore

    folder = here.path
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    saved["executor"] = {**saved["executor"], **ray_gpu}
    (folder / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    with RunStore(folder / "run.db") as store:
        store.set_meta("config", saved)
    assert open_run(folder).config.executor.name == "ray"


def test_ray_not_installed_is_refused_with_the_config(monkeypatch) -> None:
    import importlib.util

    from hwnas.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"'ray' needs Ray \(pip install 'hwnas\[ray\]'\)"):
        RayExecutor(_Factory(), workers=1).check_here()
