"""Latency on the run's runtime, here: which runtime, whether it is available, one median.

Export measures twice, never while it trains: the candidates it may choose from, with
untrained weights, before selection (:mod:`hwnas.export.selection`), and each exported
model once trained. Both use the profiling protocol and the run's device settings
(threads, batch), so that the figures compare with the profile the predictor was fitted on.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError


def target_runtime(config: Any) -> Any:
    """The runtime of a run's device (this CPU when the run has none), available here.

    Raises:
        HwnasError: The run's runtime is not available on this machine.
    """
    from hwnas.profiling import create_runtime
    from hwnas.profiling.runtimes import runtime_with_threads

    device = config.device
    if device is None:  # no target device: measure on this CPU for information
        return create_runtime("onnxruntime-cpu", threads=1)
    try:
        return runtime_with_threads(device.runtime, device.threads)
    except HwnasError as error:
        raise HwnasError(
            f"cannot re-measure on the run's device here: {error} (export on the target "
            "machine, or pass --no-measure to export without measuring)"
        ) from None


def runtime_here(config: Any, measure: bool) -> tuple[Any, str]:
    """``(runtime, "")`` when export can measure here, else ``(None, why not)``.

    An unavailable runtime is not an error: export then selects and flags on predicted
    latency, and the manifest says so.
    """
    if not measure:
        return None, "not measured (--no-measure)"
    try:
        return target_runtime(config), ""
    except HwnasError as error:
        return None, str(error)


def measure_latency_ms(
    runtime: Any, model: Any, shape: tuple[int, int, int], batch: int, **protocol: Any
) -> float:
    """Median latency of ``model`` on ``runtime`` by the profiling protocol.

    ``protocol`` holds keyword arguments of :func:`hwnas.profiling.protocol.measure`
    (the protocol's defaults otherwise).
    """
    from hwnas.profiling.protocol import measure_model

    with tempfile.TemporaryDirectory() as workdir:
        return float(
            measure_model(runtime, model, shape, batch, Path(workdir), **protocol).median_ms
        )


def measure_onnx_ms(
    runtime: Any,
    path: Path,
    shape: tuple[int, int, int],
    batch: int,
    protocol: Mapping[str, Any],
) -> float | None:
    """Median latency of an ONNX file on ``runtime``; ``None`` when the runtime cannot run
    ONNX files as they are (a PyTorch runtime)."""
    if runtime is None or not hasattr(runtime, "prepare_onnx"):
        return None
    from hwnas.profiling.protocol import measure_prepared

    run_once = runtime.prepare_onnx(path, shape, batch)
    return float(measure_prepared(runtime, run_once, batch, **protocol).median_ms)
