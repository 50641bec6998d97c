"""Device fingerprints and ids: stable for the same setup, different for any change."""

from __future__ import annotations

import json

import pytest

from hwnas.errors import ConfigError, HwnasError
from hwnas.profiling import (
    LATENCY_FIELDS,
    check_compatible,
    create_runtime,
    device_fingerprint,
    device_id,
    fingerprints_compatible,
)
from hwnas.profiling.fingerprint import _slug, cpu_model

SHAPE = (3, 32, 32)


def fp(name: str = "onnxruntime-cpu", batch: int = 1, shape: tuple[int, int, int] = SHAPE, **kw):  # type: ignore[no-untyped-def]
    return device_fingerprint(
        create_runtime(name, check=False, **kw), batch=batch, input_shape=shape
    )


def test_fingerprint_contents() -> None:
    f = fp(threads=1)
    json.dumps(f)  # JSON-serialisable
    for field in LATENCY_FIELDS:
        assert field in f
    assert f["cpu_model"] == cpu_model() and f["cpu_model"]
    assert f["logical_cores"] >= 1
    assert f["total_memory_bytes"] is None or f["total_memory_bytes"] > 0
    assert f["threads"] == 1 and f["batch"] == 1 and f["input_shape"] == [3, 32, 32]
    assert f["runtime"] == "onnxruntime-cpu"
    assert f["runtime_settings"]["graph_optimization"] == "all"
    assert f["torch"] and f["onnxruntime"] and f["python"]
    assert f["gpu_name"] is None and f["device_kind"] == "cpu"
    assert f["device_id"] == device_id(f)


def test_gpu_runtime_fingerprint_has_gpu_fields() -> None:
    f = fp("torch-cuda")
    assert f["device_kind"] == "gpu"
    assert f["gpu_name"] and f["gpu_driver"] and f["cuda"]
    assert f["device_id"].startswith("gpu-")
    assert f["threads"] is None


def test_id_is_stable_and_readable() -> None:
    a, b = fp(), fp()
    assert device_id(a) == device_id(b) == a["device_id"]
    assert fingerprints_compatible(a, b)
    ident = device_id(a)
    assert ident.startswith("cpu-") and "-ort" in ident and "-t1-" in ident
    assert len(ident.rsplit("-", 1)[1]) == 8
    check_compatible(a, b, "latency table")  # does not raise


def test_id_ignores_informational_fields() -> None:
    a = fp()
    b = dict(a, created="1999-01-01T00:00:00Z", total_memory_bytes=1, platform="other")
    assert device_id(a) == device_id(b)
    assert fingerprints_compatible(a, b)


def test_id_survives_a_json_round_trip() -> None:
    a = fp()
    assert device_id(json.loads(json.dumps(a))) == device_id(a)


@pytest.mark.parametrize(
    ("other", "field"),
    [
        ({"batch": 8}, "batch"),
        ({"threads": 2}, "runtime_settings"),
        ({"shape": (3, 64, 64)}, "input_shape"),
        ({"name": "torch-cpu"}, "runtime"),
        ({"graph_optimization": "basic"}, "runtime_settings"),
    ],
)
def test_id_changes_with_settings(other: dict[str, object], field: str) -> None:
    base = fp()
    changed = fp(**other)  # type: ignore[arg-type]
    assert device_id(changed) != device_id(base)
    assert not fingerprints_compatible(base, changed)
    with pytest.raises(HwnasError, match=f"'{field}'"):
        check_compatible(base, changed, "latency table")


def test_check_compatible_names_first_differing_field() -> None:
    a = fp(threads=1)
    b = fp(threads=2)
    with pytest.raises(HwnasError) as info:
        check_compatible(a, b, "latency table")
    message = str(info.value)
    assert message.startswith("latency table:")
    assert "'runtime_settings'" in message  # first in LATENCY_FIELDS order
    c = dict(a, input_shape=[3, 64, 64])
    with pytest.raises(HwnasError, match=r"'input_shape'.*\[3, 32, 32\].*\[3, 64, 64\]"):
        check_compatible(a, c, "predictor training set")
    d = dict(a, onnxruntime="1.0.0")
    with pytest.raises(HwnasError, match="'onnxruntime'"):
        check_compatible(a, d, "x")
    e = dict(a, cpu_model="Other CPU")
    assert device_id(e) != device_id(a)


def test_hardware_changes_id() -> None:
    a = fp()
    for field, value in (("cpu_model", "Other CPU"), ("logical_cores", 999), ("torch", "0.1")):
        assert device_id(dict(a, **{field: value})) != device_id(a)


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "intel-xeon-platinum-8375c"),
        ("AMD EPYC 7R13 Processor", "amd-epyc-7r13"),
        ("AMD Ryzen 9 5950X 16-Core Processor", "amd-ryzen-9-5950x"),
        ("NVIDIA H100 80GB HBM3", "nvidia-h100-80gb-hbm3"),
        ("Apple M2", "apple-m2"),
        ("", "unknown"),
    ],
)
def test_slug(text: str, slug: str) -> None:
    assert _slug(text) == slug


def test_fingerprint_validates_arguments() -> None:
    runtime = create_runtime("onnxruntime-cpu")
    with pytest.raises(ConfigError, match="batch"):
        device_fingerprint(runtime, batch=0, input_shape=SHAPE)
    with pytest.raises(ConfigError, match="input_shape"):
        device_fingerprint(runtime, batch=1, input_shape=(3, 32))  # type: ignore[arg-type]


def test_committed_profiles_keep_their_device_ids() -> None:
    """Fields added for GPUs (OPTIONAL_LATENCY_FIELDS) leave earlier CPU ids unchanged."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "profiles"
    checked = 0
    for path in sorted(root.glob("*/*.jsonl")):
        record = json.loads(path.open().readline())
        if "fingerprint" in record:
            assert device_id(record["fingerprint"]) == record["device_id"] == path.parent.name
            checked += 1
    assert checked >= 1
