"""Timing eager PyTorch on a CUDA GPU: the options and timed call of the ``torch-cuda`` runtime.

What one timed call of ``torch-cuda`` is, and why:

* **Synchronisation.** Kernel launches return before the GPU has run them, so a host clock
  around ``net(x)`` would time the launches, not the inference. Each call first waits for
  the device to be idle (``torch.cuda.synchronize``: nothing of the previous call leaks
  into this one), records a CUDA event, runs the model, records a second event and waits
  for it; the time is ``start.elapsed_time(end)``, measured by the GPU. Eager inference of
  a small model at a small batch is bound by the host launching kernels: the GPU idles
  between kernels, and that idle time is part of the latency, as it is in deployment.
* **cuDNN autotuning** (``cudnn_benchmark``, default on). With
  ``torch.backends.cudnn.benchmark = True`` cuDNN times its algorithms for each new
  convolution shape at the first call and keeps the fastest: that is what a deployed
  fixed-shape model runs (TensorRT and inference servers tune the same way), whereas the
  heuristic choice of ``benchmark = False`` can be several times slower for some shapes and
  would make the latency a property of a heuristic rather than of the architecture. The
  tuning runs in the runtime's untimed first call; the flag is set around every call and
  restored afterwards, so other code in the process is not affected.
* **TF32** (``tf32``, default on): convolutions and matrix products of float32 models run
  on the tensor cores in TF32, as PyTorch's cuDNN default and TensorRT do; set both flags
  explicitly so that a process-wide change elsewhere cannot change the timings.
* **Warm-up** (``warmup_seconds``, default 0.3 s): after the autotuning call, inferences
  run back to back for at least this long, untimed, so that the GPU leaves its idle clocks
  (an H200 here idled at 345 MHz SM clock and ran at 1980 MHz under load) and the caching
  allocator holds every buffer; the protocol's own warm-up calls follow.
* **Host copies** (``host_copies``, default off): off, the input already lives on the GPU
  and only the inference is timed (device time). On, each timed call also copies the input
  from pinned host memory to the GPU and the logits back to the host, as in a deployment
  that feeds host data (the onnxruntime GPU runtimes always time those copies).

The repeated windows and the stopping rule are the protocol's (:mod:`hwnas.profiling.protocol`),
the same as on the CPU.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from hwnas.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    from torch import nn


class CudaOptions(BaseModel):
    """The settings of the ``torch-cuda`` runtime (see the module docstring; the defaults
    are :class:`hwnas.profiling.runtimes.TorchCUDA`'s)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host_copies: StrictBool
    cudnn_benchmark: StrictBool
    tf32: StrictBool
    warmup_seconds: float = Field(ge=0, le=60, allow_inf_nan=False)

    @classmethod
    def checked(cls, **options: Any) -> CudaOptions:
        """The options, or :class:`ConfigError` naming the first bad one."""
        try:
            return cls(**options)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "options"
            expected = first["msg"].removeprefix("Input should be ")
            raise ConfigError(field, expected, first.get("input")) from None


def cuda_available() -> tuple[bool, str]:
    """``(True, "")`` when PyTorch sees a CUDA GPU, else ``(False, reason)``."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False, "torch is not installed: install torch"
    if not torch.cuda.is_available():
        return False, (
            "torch.cuda.is_available() is False: install a CUDA build of torch "
            "(and a CUDA-capable GPU with its driver)"
        )
    return True, ""


@contextlib.contextmanager
def backend_flags(options: CudaOptions) -> Iterator[None]:
    """Set the cuDNN autotuning and TF32 flags of ``options``; restore them on exit."""
    import torch

    flags: tuple[tuple[Any, str, bool], ...] = (
        (torch.backends.cudnn, "benchmark", options.cudnn_benchmark),
        (torch.backends.cudnn, "allow_tf32", options.tf32),
        (torch.backends.cuda.matmul, "allow_tf32", options.tf32),
    )
    saved = [getattr(owner, name) for owner, name, _ in flags]
    try:
        for owner, name, value in flags:
            setattr(owner, name, value)
        yield
    finally:
        for (owner, name, _), old in zip(flags, saved, strict=True):
            setattr(owner, name, old)


def prepare_cuda(
    model: nn.Module, example: np.ndarray, options: CudaOptions
) -> Callable[[], float]:
    """Put a copy of ``model`` on ``cuda:0``, tune and warm it up; return the timed call.

    Args:
        model: The model (copied, never modified).
        example: The float32 input batch (numpy, on the host).
        options: The runtime's settings.

    Returns:
        A function running one inference and returning its GPU time in milliseconds
        (from CUDA events; with ``host_copies``, the copies in and out included).
    """
    import torch

    device = torch.device("cuda", 0)
    net = copy.deepcopy(model).to(device).eval()
    host = torch.from_numpy(example)
    if options.host_copies:
        host = host.pin_memory()  # asynchronous copies, as a deployment feeding a GPU does
    on_device = host.to(device)
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)

    def infer_on_device() -> None:
        net(on_device)

    def infer_with_copies() -> None:
        net(host.to(device, non_blocking=True)).to("cpu")

    infer = infer_with_copies if options.host_copies else infer_on_device

    def run_once() -> float:
        # Entering the flags and inference mode happens before the start event: not timed.
        with backend_flags(options), torch.inference_mode():
            torch.cuda.synchronize(device)
            start.record()
            infer()
            end.record()
            end.synchronize()
        return float(start.elapsed_time(end))

    run_once()  # cuDNN autotuning of every convolution shape, allocator growth: not timed
    deadline = time.perf_counter() + options.warmup_seconds
    with backend_flags(options), torch.inference_mode():
        while time.perf_counter() < deadline:  # back to back: the GPU's clocks rise
            infer()
            torch.cuda.synchronize(device)  # bounds the queue, so the warm-up ends on time
    return run_once
