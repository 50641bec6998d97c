"""Device fingerprints: what a latency measurement was taken on, and a stable id for it.

A fingerprint (:func:`device_fingerprint`) records the hardware, the library versions, the
runtime and its settings, the batch size and the input shape of a measurement. Its
:func:`device_id` is a readable slug plus a hash of the fields that affect latency
(:data:`LATENCY_FIELDS`); informational fields (the full platform string, total memory, the
creation time) are recorded but neither hashed nor compared. Measurements whose
fingerprints are not :func:`fingerprints_compatible` are never mixed
(:func:`check_compatible`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from functools import lru_cache
from typing import Any

from hwnas.errors import HwnasError
from hwnas.profiling.runtimes import Runtime, check_batch, check_shape

#: Version of the fingerprint layout; part of the hash.
FINGERPRINT_VERSION = 1

#: The fields that affect latency, in the order :func:`check_compatible` reports them.
LATENCY_FIELDS: tuple[str, ...] = (
    "fingerprint_version",
    "device_kind",
    # Published measurements (``hwnas profile import``) name their device here.
    "device_name",
    "cpu_model",
    "logical_cores",
    "machine",
    "os",
    "gpu_name",
    "gpu_driver",
    "cuda",
    "python",
    "torch",
    "onnxruntime",
    "runtime",
    "runtime_settings",
    "threads",
    "batch",
    "input_shape",
)

#: Latency fields added after profiles were published: hashed and compared only when a
#: fingerprint has them, so that the ids of earlier (CPU) profiles stay what they were.
OPTIONAL_LATENCY_FIELDS: tuple[str, ...] = ("cudnn", "compute_capability")


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    text = _read_text("/proc/cpuinfo")
    if text:
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return " ".join(value.split())
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def total_memory_bytes() -> int | None:
    """Total physical memory in bytes (``/proc/meminfo`` or ``os.sysconf``), or ``None``."""
    text = _read_text("/proc/meminfo")
    if text:
        match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
        if match:
            return int(match.group(1)) * 1024
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


@lru_cache(maxsize=1)
def nvidia_smi_query() -> tuple[str, str]:
    """``(name, driver_version)`` of GPU 0, ``"unknown"`` where not found.

    From ``nvidia-smi``; the driver version falls back on ``/proc/driver/nvidia/version``
    (a container may have the driver but not the tool).
    """
    name, driver = "unknown", "unknown"
    exe = shutil.which("nvidia-smi")
    if exe is not None:
        try:
            out = subprocess.run(
                [exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            lines = out.stdout.strip().splitlines()
            if out.returncode == 0 and lines:
                first, _, last = lines[0].rpartition(",")
                name, driver = first.strip() or "unknown", last.strip() or "unknown"
        except (OSError, subprocess.SubprocessError):
            pass
    if driver == "unknown":
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+(?:\.\d+)+)", _proc_driver())
        if match:
            driver = match.group(1)
    return name, driver


def _proc_driver() -> str:
    return _read_text("/proc/driver/nvidia/version") or ""


def gpu_driver_version() -> str:
    """The NVIDIA driver version from ``nvidia-smi``, or ``"unknown"``."""
    return nvidia_smi_query()[1]


def _torch_version() -> str | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return str(torch.__version__)


def _onnxruntime_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


def _gpu_info() -> dict[str, Any]:
    """The GPU fields of a fingerprint: GPU 0 as PyTorch and the driver see it."""
    info: dict[str, Any] = {"gpu_name": None, "gpu_driver": None, "cuda": None}
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return info
    smi_name, driver = nvidia_smi_query()
    info["cuda"] = torch.version.cuda or "unknown"
    info["gpu_name"] = smi_name
    info["gpu_driver"] = driver
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu_name"] = props.name
        info["compute_capability"] = f"{props.major}.{props.minor}"
        info["gpu_memory_bytes"] = int(props.total_memory)
        info["gpu_multiprocessors"] = int(props.multi_processor_count)
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        info["cudnn"] = str(cudnn) if cudnn is not None else "unknown"
    return info


def device_fingerprint(
    runtime: Runtime, *, batch: int, input_shape: tuple[int, int, int]
) -> dict[str, Any]:
    """The fingerprint of measurements of ``runtime`` here, at ``batch`` and ``input_shape``.

    Returns:
        A JSON-serialisable dict: hardware (``cpu_model``, ``logical_cores``,
        ``total_memory_bytes``, ``machine``, ``os``, ``platform`` and, for GPU runtimes,
        ``gpu_name``, ``gpu_driver``, ``cuda`` and, where PyTorch sees the GPU,
        ``compute_capability``, ``cudnn``, ``gpu_memory_bytes``, ``gpu_multiprocessors``),
        library versions (``python``, ``torch``,
        ``onnxruntime``), ``runtime``, ``runtime_settings``, ``threads``, ``batch``,
        ``input_shape``, ``created`` (UTC, informational) and ``device_id``.
    """
    shape = check_shape(input_shape)
    batch = check_batch(batch)
    settings = runtime.settings()
    fingerprint: dict[str, Any] = {
        "fingerprint_version": FINGERPRINT_VERSION,
        "device_kind": runtime.device_kind,
        "device_name": None,
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "total_memory_bytes": total_memory_bytes(),
        "machine": platform.machine(),
        "os": platform.system(),
        "platform": platform.platform(),
        "gpu_name": None,
        "gpu_driver": None,
        "cuda": None,
        "python": platform.python_version(),
        "torch": _torch_version(),
        "onnxruntime": _onnxruntime_version(),
        "runtime": runtime.name,
        "runtime_settings": settings,
        "threads": settings.get("threads"),
        "batch": batch,
        "input_shape": list(shape),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if runtime.device_kind == "gpu":
        fingerprint.update(_gpu_info())
    fingerprint["device_id"] = device_id(fingerprint)
    return fingerprint


def latency_key(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``fingerprint`` that affect latency (missing ones as ``None``), and the
    :data:`OPTIONAL_LATENCY_FIELDS` it has."""
    key = {field: _normalise(fingerprint.get(field)) for field in LATENCY_FIELDS}
    for field in OPTIONAL_LATENCY_FIELDS:
        if fingerprint.get(field) is not None:
            key[field] = _normalise(fingerprint[field])
    return key


def _normalise(value: Any) -> Any:
    # JSON round trips turn tuples into lists: compare both the same way.
    return json.loads(json.dumps(value, sort_keys=True))


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    """A 16-hex-digit hash of the latency fields of ``fingerprint``."""
    payload = json.dumps(latency_key(fingerprint), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


_NOISE = re.compile(r"\((?:r|tm|c)\)|\b(?:cpu|processor|\d+-core|core\(tm\))\b|@.*$", re.IGNORECASE)


def _slug(text: str, max_len: int = 40) -> str:
    text = _NOISE.sub(" ", text.lower())
    slug = re.sub(r"[^a-z0-9.]+", "-", text).strip("-.")
    return slug[:max_len].rstrip("-.") or "unknown"


def _version_tag(version: str | None) -> str:
    if not version:
        return ""
    match = re.match(r"(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else _slug(version, 12)


def _runtime_tag(fingerprint: dict[str, Any]) -> str:
    runtime = str(fingerprint.get("runtime") or "unknown")
    if runtime.startswith("onnxruntime"):
        tag = "ort" + _version_tag(fingerprint.get("onnxruntime"))
        suffix = runtime[len("onnxruntime") :].lstrip("-")
    elif runtime.startswith("torch"):
        tag = "torch" + _version_tag(fingerprint.get("torch"))
        suffix = runtime[len("torch") :].lstrip("-")
    else:
        tag, suffix = _slug(runtime, 24), ""
    if suffix and suffix != "cpu":
        tag += "-" + {"tensorrt": "trt"}.get(suffix, _slug(suffix, 12))
    return tag


def device_slug(fingerprint: dict[str, Any]) -> str:
    """The device kind and model of ``fingerprint``, e.g. ``gpu-nvidia-h200``: the start of
    its :func:`device_id`, without the runtime and the hash."""
    kind = str(fingerprint.get("device_kind") or "cpu")
    device = fingerprint.get("gpu_name" if kind == "gpu" else "cpu_model")
    return f"{kind}-{_slug(str(device or 'unknown'))}"


def device_id(fingerprint: dict[str, Any]) -> str:
    """A stable, readable id of ``fingerprint``.

    For example ``cpu-intel-xeon-platinum-8375c-ort1.32-t1-1a2b3c4d`` or
    ``gpu-nvidia-h100-80gb-hbm3-torch2.13-cuda-1a2b3c4d``: the device kind, the device
    model, the runtime and its library version, the thread count where the runtime has one,
    and the first 8 hex digits of :func:`fingerprint_hash`. Equal latency fields give equal
    ids; any change of hardware, library version, runtime, settings, batch size or input
    shape gives a different one.
    """
    parts = [device_slug(fingerprint), _runtime_tag(fingerprint)]
    threads = fingerprint.get("threads")
    if threads is not None:
        parts.append(f"t{threads}")
    parts.append(fingerprint_hash(fingerprint)[:8])
    return "-".join(parts)


def first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The first field of :data:`LATENCY_FIELDS` on which ``a`` and ``b`` differ, or ``None``."""
    key_a, key_b = latency_key(a), latency_key(b)
    for field in (*LATENCY_FIELDS, *OPTIONAL_LATENCY_FIELDS):
        if key_a.get(field) != key_b.get(field):
            return field
    return None


def fingerprints_compatible(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether measurements under ``a`` and ``b`` may be mixed (equal latency fields)."""
    return first_difference(a, b) is None


def check_compatible(a: dict[str, Any], b: dict[str, Any], what: str) -> None:
    """Raise :class:`HwnasError` naming the first differing field unless compatible.

    Args:
        a: One fingerprint.
        b: The other.
        what: What is being combined, for the message (e.g. ``"latency table"``).
    """
    field = first_difference(a, b)
    if field is not None:
        raise HwnasError(
            f"{what}: measurements from different devices or settings cannot be mixed: "
            f"{field!r} is {a.get(field)!r} in one and {b.get(field)!r} in the other "
            f"(device ids {device_id(a)} and {device_id(b)})"
        )
