"""Device profiling: runtimes, device fingerprints and the latency measurement protocol.

>>> from hwnas.profiling import create_runtime, measure_model
>>> stats = measure_model(create_runtime("onnxruntime-cpu", threads=1), model, (3, 32, 32))
>>> stats.median_ms
"""

from hwnas.profiling.fingerprint import (
    LATENCY_FIELDS,
    check_compatible,
    device_fingerprint,
    device_id,
    fingerprints_compatible,
)
from hwnas.profiling.protocol import LatencyStats, measure, measure_model
from hwnas.profiling.runtimes import (
    RUNTIMES,
    RunOnce,
    Runtime,
    create_runtime,
    list_runtimes,
    register_runtime,
    runtime_status,
)

__all__ = [
    "LATENCY_FIELDS",
    "RUNTIMES",
    "LatencyStats",
    "RunOnce",
    "Runtime",
    "check_compatible",
    "create_runtime",
    "device_fingerprint",
    "device_id",
    "fingerprints_compatible",
    "list_runtimes",
    "measure",
    "measure_model",
    "register_runtime",
    "runtime_status",
]
