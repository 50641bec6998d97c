"""Every registered runtime either measures a tiny model or says why it cannot."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from hwnas.errors import ConfigError, HwnasError
from hwnas.profiling import (
    RUNTIMES,
    Runtime,
    create_runtime,
    list_runtimes,
    measure,
    measure_model,
    runtime_status,
)
from hwnas.profiling.runtimes import OnnxRuntimeCUDA, OnnxRuntimeTensorRT

INPUT_SHAPE = (3, 8, 8)
QUICK = {"warmup": 1, "min_repeats": 3, "max_repeats": 5, "min_seconds": 0.0, "window": 2}
CUDA = torch.cuda.is_available()


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


#: The runtimes hwnas ships (other test modules register fake ones beside them).
BUILT_IN = [
    "onnxruntime-cpu",
    "onnxruntime-cuda",
    "onnxruntime-tensorrt",
    "torch-cpu",
    "torch-cuda",
]


def test_expected_runtimes_are_registered() -> None:
    assert set(BUILT_IN) <= set(list_runtimes())


@pytest.mark.parametrize("name", BUILT_IN)
def test_runtime_measures_or_explains(name: str, tmp_path: Path) -> None:
    runtime = create_runtime(name, check=False)
    assert isinstance(runtime, Runtime) and runtime.name == name
    settings = runtime.settings()
    assert isinstance(settings, dict)
    ok, reason = runtime.available()
    model = tiny_model()
    if ok:
        assert reason == ""
        run_once = runtime.prepare(model, INPUT_SHAPE, 2, tmp_path)
        ms = run_once()
        assert math.isfinite(ms) and ms > 0
        stats = measure(run_once, **QUICK)  # type: ignore[arg-type]
        assert 3 <= stats.n <= 5 and stats.median_ms > 0
    else:
        assert reason and "install" in reason
        with pytest.raises(HwnasError, match=re.escape(reason)):
            runtime.prepare(model, INPUT_SHAPE, 2, tmp_path)
        with pytest.raises(HwnasError):
            create_runtime(name)


def test_runtime_status_covers_every_runtime() -> None:
    status = runtime_status()
    assert [s["name"] for s in status] == list_runtimes()
    for s in status:
        assert set(s) == {"name", "available", "reason"}
        assert isinstance(s["available"], bool)
        assert (s["reason"] == "") == s["available"]
    available = {s["name"]: s["available"] for s in status}
    assert available["onnxruntime-cpu"] and available["torch-cpu"]


def test_cuda_runtimes_without_gpu_say_what_to_install() -> None:
    import onnxruntime as ort

    reasons = {s["name"]: s["reason"] for s in runtime_status()}
    if not CUDA:
        assert "torch.cuda.is_available() is False" in reasons["torch-cuda"]
    for name, provider in (
        ("onnxruntime-cuda", "CUDAExecutionProvider"),
        ("onnxruntime-tensorrt", "TensorrtExecutionProvider"),
    ):
        if provider not in ort.get_available_providers():
            assert provider in reasons[name] and "onnxruntime-gpu" in reasons[name]


@pytest.mark.parametrize("cls", [OnnxRuntimeCUDA, OnnxRuntimeTensorRT])
def test_onnxruntime_gpu_provider_missing_is_an_error(
    cls: type[OnnxRuntimeCUDA], tmp_path: Path
) -> None:
    """Even when the provider is listed, a session that cannot use it must not be timed."""
    import onnxruntime as ort

    if cls.provider in ort.get_available_providers():
        pytest.skip(f"{cls.provider} is installed")

    class Pretending(cls):  # type: ignore[misc, valid-type]
        def available(self) -> tuple[bool, str]:
            return True, ""

    with pytest.raises(HwnasError, match=cls.provider.replace("ExecutionProvider", "")):
        Pretending().prepare(tiny_model(), INPUT_SHAPE, 1, tmp_path)


def test_unknown_runtime_lists_known_names() -> None:
    with pytest.raises(ConfigError) as info:
        create_runtime("tflite")
    assert info.value.field == "runtime"
    for name in list_runtimes():
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        ("onnxruntime-cpu", {"threads": 0}, "threads"),
        ("onnxruntime-cpu", {"threads": True}, "threads"),
        ("onnxruntime-cpu", {"graph_optimization": "max"}, "graph_optimization"),
        ("torch-cpu", {"threads": -2}, "threads"),
    ],
)
def test_bad_settings(name: str, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_runtime(name, **kwargs)
    assert info.value.field == field


def test_onnxruntime_cpu_settings() -> None:
    runtime = create_runtime("onnxruntime-cpu", threads=2, graph_optimization="basic")
    assert runtime.settings() == {
        "provider": "CPUExecutionProvider",
        "fallback_providers": [],
        "threads": 2,
        "inter_op_threads": 1,
        "execution_mode": "sequential",
        "graph_optimization": "basic",
    }
    assert "threads=2" in repr(runtime)


@pytest.mark.parametrize("level", ["disable", "basic", "extended", "all"])
def test_onnxruntime_cpu_optimization_levels_run(level: str, tmp_path: Path) -> None:
    runtime = create_runtime("onnxruntime-cpu", graph_optimization=level)
    assert runtime.prepare(tiny_model(), INPUT_SHAPE, 1, tmp_path)() > 0


@pytest.mark.parametrize(
    ("input_shape", "batch", "field"),
    [((3, 8), 1, "input_shape"), ((3, 0, 8), 1, "input_shape"), (INPUT_SHAPE, 0, "batch")],
)
def test_prepare_validates_arguments(
    input_shape: tuple[int, ...], batch: int, field: str, tmp_path: Path
) -> None:
    runtime = create_runtime("onnxruntime-cpu")
    with pytest.raises(ConfigError) as info:
        runtime.prepare(tiny_model(), input_shape, batch, tmp_path)  # type: ignore[arg-type]
    assert info.value.field == field


def test_torch_cpu_restores_threads_and_leaves_model_alone(tmp_path: Path) -> None:
    model = tiny_model().train()
    before = torch.get_num_threads()
    runtime = create_runtime("torch-cpu", threads=1)
    run_once = runtime.prepare(model, INPUT_SHAPE, 1, tmp_path)
    assert run_once() > 0
    assert torch.get_num_threads() == before
    assert model.training


def test_onnxruntime_export_goes_to_workdir(tmp_path: Path) -> None:
    model = tiny_model().train()
    create_runtime("onnxruntime-cpu").prepare(model, INPUT_SHAPE, 1, tmp_path / "w")
    assert [p.suffix for p in (tmp_path / "w").iterdir()] == [".onnx"]
    assert model.training


def test_measure_model_with_temporary_workdir() -> None:
    stats = measure_model(
        create_runtime("onnxruntime-cpu"), tiny_model(), INPUT_SHAPE, 1, None, **QUICK
    )
    assert stats.n >= 3 and stats.median_ms > 0


def test_import_is_lazy() -> None:
    code = (
        "import sys, hwnas.profiling; "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"


def test_registry_is_shared() -> None:
    assert RUNTIMES.kind == "runtime" and "onnxruntime-cpu" in RUNTIMES


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["torch-cuda", "onnxruntime-cuda"])
def test_gpu_runtime_measures(name: str, tmp_path: Path) -> None:
    runtime = create_runtime(name, check=False)
    ok, reason = runtime.available()
    if not ok:
        pytest.skip(reason)
    stats = measure_model(runtime, tiny_model(), INPUT_SHAPE, 4, tmp_path, **QUICK)
    assert stats.median_ms > 0 and math.isfinite(stats.median_ms)
