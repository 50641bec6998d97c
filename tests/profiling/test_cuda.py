"""The torch-cuda timing protocol: options, flags, fingerprint fields (with a fake GPU)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from hwnas.cli import main
from hwnas.errors import ConfigError
from hwnas.profiling import create_runtime, device_fingerprint, measure_model
from hwnas.profiling import fingerprint as fingerprint_module
from hwnas.profiling.cuda import CudaOptions, backend_flags
from hwnas.profiling.fingerprint import (
    check_compatible,
    device_id,
    device_slug,
    nvidia_smi_query,
)
from hwnas.profiling.runtimes import runtime_with_threads

SHAPE = (3, 32, 32)


def test_torch_cuda_settings_name_every_option() -> None:
    runtime = create_runtime("torch-cuda", check=False)
    assert runtime.settings() == {
        "device": "cuda:0",
        "mode": "eager",
        "inference_mode": True,
        "timer": "cuda-event",
        "host_copies": False,
        "cudnn_benchmark": True,
        "tf32": True,
        "warmup_seconds": 0.3,
    }
    copies = create_runtime("torch-cuda", check=False, host_copies=True)
    assert copies.settings()["host_copies"] is True


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"host_copies": "yes"}, "host_copies"),
        ({"host_copies": 1}, "host_copies"),
        ({"cudnn_benchmark": None}, "cudnn_benchmark"),
        ({"tf32": "false"}, "tf32"),
        ({"warmup_seconds": -1}, "warmup_seconds"),
        ({"warmup_seconds": float("nan")}, "warmup_seconds"),
        ({"warmup_seconds": 61}, "warmup_seconds"),
    ],
)
def test_bad_cuda_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_runtime("torch-cuda", check=False, **options)
    assert info.value.field == field


def test_unknown_runtime_option_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="host_copies, cudnn_benchmark, tf32, warmup_seconds"):
        runtime_with_threads("torch-cuda", 1, check=False, hostcopies=True)
    with pytest.raises(ConfigError, match=r"torch-cpu \(none\)"):
        runtime_with_threads("torch-cpu", 1, check=False, host_copies=True)
    runtime = runtime_with_threads("torch-cuda", 4, check=False, warmup_seconds=1)
    assert runtime.settings()["warmup_seconds"] == 1.0 and "threads" not in runtime.settings()


def test_options_are_part_of_the_device_id() -> None:
    def ident(**options: Any) -> str:
        runtime = create_runtime("torch-cuda", check=False, **options)
        return device_fingerprint(runtime, batch=1, input_shape=SHAPE)["device_id"]

    assert ident() == ident()
    assert ident(host_copies=True) != ident()
    assert ident(cudnn_benchmark=False) != ident()


def test_backend_flags_are_set_inside_and_restored_after() -> None:
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32)
    options = CudaOptions.checked(
        host_copies=False, cudnn_benchmark=not before[0], tf32=not before[2], warmup_seconds=0
    )
    with pytest.raises(RuntimeError), backend_flags(options):
        assert cudnn.benchmark is (not before[0])
        assert cudnn.allow_tf32 is matmul.allow_tf32 is (not before[2])
        raise RuntimeError  # restored on errors too
    assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == before


def fake_gpu(monkeypatch: pytest.MonkeyPatch, cudnn: int = 91900) -> None:
    """PyTorch and nvidia-smi as on an H200 machine."""
    props = SimpleNamespace(
        name="NVIDIA H200",
        major=9,
        minor=0,
        total_memory=150_000_000_000,
        multi_processor_count=132,
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: cudnn)
    monkeypatch.setattr(
        fingerprint_module, "nvidia_smi_query", lambda: ("NVIDIA H200", "580.159.03")
    )


def h200_fingerprint(**options: Any) -> dict[str, Any]:
    runtime = create_runtime("torch-cuda", check=False, **options)
    return device_fingerprint(runtime, batch=1, input_shape=SHAPE)


def test_gpu_fingerprint_records_gpu_driver_cuda_and_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpu(monkeypatch)
    f = h200_fingerprint()
    assert f["device_kind"] == "gpu"
    assert f["gpu_name"] == "NVIDIA H200" and f["gpu_driver"] == "580.159.03"
    assert f["cuda"] == "13.0" and f["cudnn"] == "91900" and f["compute_capability"] == "9.0"
    assert f["torch"] == torch.__version__ and f["threads"] is None
    assert f["gpu_memory_bytes"] == 150_000_000_000 and f["gpu_multiprocessors"] == 132
    assert f["runtime_settings"]["timer"] == "cuda-event"
    assert device_slug(f) == "gpu-nvidia-h200"
    assert f["device_id"].startswith("gpu-nvidia-h200-torch") and "-cuda-" in f["device_id"]


def test_gpu_fingerprint_changes_with_driver_and_cudnn(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpu(monkeypatch)
    base = h200_fingerprint()
    for field, value in (("gpu_driver", "581.0"), ("cuda", "12.8"), ("cudnn", "90100")):
        other = dict(base, **{field: value})
        assert device_id(other) != device_id(base)
        with pytest.raises(Exception, match=f"'{field}'"):
            check_compatible(base, other, "latency table")
    # Informational: neither hashed nor compared.
    assert device_id(dict(base, gpu_memory_bytes=1)) == device_id(base)


def test_driver_version_falls_back_on_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fingerprint_module.shutil, "which", lambda name: None)
    query = nvidia_smi_query.__wrapped__  # type: ignore[attr-defined]
    for text, driver in (
        (
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.03  Thu Oct 2 2025",
            "580.159.03",
        ),
        (
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release",
            "570.86.15",
        ),
        ("", "unknown"),
    ):
        monkeypatch.setattr(fingerprint_module, "_proc_driver", lambda text=text: text)
        assert query() == ("unknown", driver)


def test_profile_cli_passes_runtime_options(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["profile", "--space", "nb201", "-n", "1", "--input-shape", "3,8,8", "--classes", "10"]
    assert main([*base, "--runtime", "torch-cpu", "--runtime-option", "nonsense"]) == 2
    assert "--runtime-option: expected KEY=VALUE" in capsys.readouterr().err
    assert main([*base, "--runtime", "torch-cuda", "--runtime-option", "tf32=maybe"]) == 2
    assert "tf32: expected a valid boolean" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["onnxruntime-cuda", "onnxruntime-tensorrt"])
def test_onnxruntime_gpu_runtimes_degrade_with_a_clear_message(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnxruntime as ort

    if ort.get_device() != "CPU":
        pytest.skip("the GPU build of onnxruntime is installed")
    argv = ["profile", "--space", "nb201", "-n", "1", "--input-shape", "3,8,8", "--classes", "10"]
    assert main([*argv, "--runtime", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "is the CPU build" in err and "onnxruntime-gpu" in err and "torch-cuda" in err


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))


@pytest.mark.gpu
@pytest.mark.parametrize("host_copies", [False, True])
def test_torch_cuda_times_with_and_without_copies(host_copies: bool, tmp_path: Path) -> None:
    runtime = create_runtime("torch-cuda", host_copies=host_copies, warmup_seconds=0.05)
    model = tiny()
    model(torch.zeros(1, *SHAPE))  # materialise the lazy layer
    stats = measure_model(runtime, model, SHAPE, 8, tmp_path, min_seconds=0.0, max_seconds=0.5)
    assert stats.n >= 20 and math.isfinite(stats.median_ms) and stats.median_ms > 0
