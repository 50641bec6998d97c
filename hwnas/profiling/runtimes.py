"""Inference runtimes that latency is measured on, behind a registry.

A :class:`Runtime` turns a PyTorch model into a zero-argument function that runs one
inference of a fixed batch and returns its wall time in milliseconds
(:meth:`Runtime.prepare`); the measurement protocol (:mod:`hwnas.profiling.protocol`) calls
that function. Everything costly or one-off (ONNX export, session creation, moving the model
to the device, TensorRT engine builds, first-call allocations) happens in ``prepare``, which
also runs one untimed inference, so that the timed function does nothing but infer.

Registered runtimes: ``onnxruntime-cpu`` (ONNX export + an ``onnxruntime.InferenceSession``
on ``CPUExecutionProvider``: ``threads`` intra-op threads, one inter-op thread, sequential,
``graph_optimization`` one of ``disable``, ``basic``, ``extended``, ``all``);
``onnxruntime-cuda`` / ``onnxruntime-tensorrt`` (the same on ``CUDAExecutionProvider`` /
``TensorrtExecutionProvider``, from the ``onnxruntime-gpu`` package; a host input is fed and
the logits fetched, so the host<->device copies are timed, as in a deployment fed host data);
``torch-cpu`` (eager PyTorch under ``torch.inference_mode()``, ``torch.set_num_threads``
set around each call, untimed); ``torch-cuda`` (eager PyTorch on ``cuda:0``, timed with CUDA
events after a synchronisation; cuDNN autotuning and TF32 on, a time-based warm-up, host
copies excluded unless ``host_copies=True``: :mod:`hwnas.profiling.cuda` says why).

Imports of ``torch``, ``torch.cuda`` and ``onnxruntime`` are deferred to the methods that
need them, so ``import hwnas.profiling`` stays cheap.
"""

from __future__ import annotations

import abc
import copy
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hwnas.errors import ConfigError, HwnasError
from hwnas.registry import Registry

if TYPE_CHECKING:
    from torch import nn

#: A zero-argument function running one inference and returning its time in milliseconds.
RunOnce = Callable[[], float]

#: ``graph_optimization`` names and the ``onnxruntime.GraphOptimizationLevel`` members.
GRAPH_OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


class Runtime(abc.ABC):
    """An inference runtime: availability, settings, and a timed single inference.

    Constructing a runtime is cheap and never fails because of missing hardware or
    packages: :meth:`available` says whether it can run here, and :meth:`prepare` (like
    :func:`create_runtime`) raises :class:`~hwnas.errors.HwnasError` with the reason when
    it cannot.
    """

    #: The registered name (set by :func:`register_runtime`).
    name: ClassVar[str] = ""
    #: ``"cpu"`` or ``"gpu"``: the kind of device the runtime computes on.
    device_kind: ClassVar[str] = "cpu"
    #: Whether measurements are drift-corrected against an anchor model by default
    #: (:mod:`hwnas.profiling.drift`): the CPU runtimes of this module, whose machines
    #: drift; a GPU runtime has its own warm-up and clocks to settle.
    anchored: ClassVar[bool] = False

    @abc.abstractmethod
    def available(self) -> tuple[bool, str]:
        """``(True, "")`` when the runtime can run here, else ``(False, reason)``."""

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """The runtime's JSON-serialisable settings (threads, optimisation level...)."""

    @abc.abstractmethod
    def _prepare(
        self, model: nn.Module, input_shape: tuple[int, int, int], batch: int, workdir: Path
    ) -> RunOnce:
        """:meth:`prepare` once arguments and availability are checked."""

    def check_available(self) -> None:
        """Raise :class:`HwnasError` with the reason when the runtime is not available."""
        ok, reason = self.available()
        if not ok:
            raise HwnasError(f"runtime {self.name!r} is not available: {reason}")

    def prepare(
        self,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        batch: int,
        workdir: str | Path,
    ) -> RunOnce:
        """Get ``model`` ready to run and return the function timing one inference.

        Args:
            model: The model; it is copied or exported, never modified.
            input_shape: ``(C, H, W)`` of one input sample.
            batch: The batch size of every timed inference.
            workdir: A folder for files the runtime needs (the ONNX export).

        Returns:
            A function running one inference of a ``(batch, C, H, W)`` input and returning
            its wall time in milliseconds. One untimed inference has already run.

        Raises:
            HwnasError: The runtime is not available here (with the reason), or an argument
                is invalid (:class:`ConfigError`).
        """
        shape = check_shape(input_shape)
        batch = check_batch(batch)
        self.check_available()
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        run_once = self._prepare(model, shape, batch, workdir)
        run_once()  # first-call initialisation (allocations, engine builds) is not timed
        return run_once

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


RUNTIMES: Registry[Runtime] = Registry("runtime")


def register_runtime(name: str) -> Callable[[type[Runtime]], type[Runtime]]:
    """Class decorator registering a :class:`Runtime` subclass under ``name``."""

    def decorator(cls: type[Runtime]) -> type[Runtime]:
        cls.name = name
        RUNTIMES.register(name)(cls)
        return cls

    return decorator


def create_runtime(name: str, *, check: bool = True, **kwargs: Any) -> Runtime:
    """The runtime registered as ``name``, built with ``kwargs``.

    Args:
        name: A registered name (see :func:`list_runtimes`).
        check: Raise :class:`HwnasError` with the reason when the runtime is not available
            here. With ``check=False`` the runtime is returned anyway (its
            :meth:`Runtime.prepare` raises instead).
        kwargs: The runtime's settings (e.g. ``threads=1``).
    """
    runtime = RUNTIMES.create(name, **kwargs)
    if check:
        runtime.check_available()
    return runtime


def list_runtimes() -> list[str]:
    """The names of the registered runtimes, sorted."""
    return RUNTIMES.names()


def runtime_status() -> list[dict[str, Any]]:
    """``{"name", "available", "reason"}`` for every registered runtime (default settings)."""
    status = []
    for name in list_runtimes():
        ok, reason = RUNTIMES.create(name).available()
        status.append({"name": name, "available": ok, "reason": reason})
    return status


# -- argument checks ----------------------------------------------------------------------


def check_shape(input_shape: object) -> tuple[int, int, int]:
    """``input_shape`` as a tuple of positive ints, else :class:`ConfigError`: ``(C, H, W)``
    for images or ``(L,)`` for token sequences (:mod:`hwnas.data.inputs`)."""
    expected = "three positive integers C,H,W (or one, L, for token sequences)"
    try:
        shape = tuple(int(v) for v in input_shape)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ConfigError("input_shape", expected, input_shape) from None
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ConfigError("input_shape", expected, input_shape)
    return shape  # type: ignore[return-value]


def check_batch(batch: object) -> int:
    """``batch`` as a positive int, else :class:`ConfigError`."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError("batch", "an integer >= 1", batch)
    return batch


def _check_threads(threads: object) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError("threads", "an integer >= 1", threads)
    return threads


def _example_input(input_shape: tuple[int, int, int], batch: int) -> Any:
    """A fixed pseudo-random numpy input (not zeros: no zero fast paths): float32 images
    or int64 token ids (:func:`hwnas.data.inputs.random_input`)."""
    import numpy as np

    from hwnas.data.inputs import random_input

    return random_input(input_shape, batch, np.random.default_rng(0))


# -- onnxruntime --------------------------------------------------------------------------


class _OnnxRuntime(Runtime):
    """ONNX export + one ``onnxruntime.InferenceSession`` on :attr:`provider`."""

    provider: ClassVar[str] = "CPUExecutionProvider"
    #: Providers after :attr:`provider` for the nodes it cannot run (CPU is always last).
    fallback_providers: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = "install onnxruntime"

    def __init__(self, threads: int = 1, graph_optimization: str = "all") -> None:
        self.threads = _check_threads(threads)
        if graph_optimization not in GRAPH_OPTIMIZATION_LEVELS:
            raise ConfigError(
                "graph_optimization",
                f"one of {', '.join(GRAPH_OPTIMIZATION_LEVELS)}",
                graph_optimization,
            )
        self.graph_optimization = graph_optimization

    def available(self) -> tuple[bool, str]:
        try:
            import onnxruntime as ort
        except ImportError:
            return False, f"onnxruntime is not installed: {self.install_hint}"
        try:
            import onnx  # noqa: F401  (needed by the export)
        except ImportError:
            return False, "onnx is not installed (needed to export models): install onnx"
        if self.provider not in ort.get_available_providers():
            build = " is the CPU build" if ort.get_device() == "CPU" else ""
            return False, (
                f"{self.provider} not in onnxruntime.get_available_providers() (onnxruntime "
                f"{ort.__version__}{build}): {self.install_hint}"
            )
        return True, ""

    def settings(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "fallback_providers": list(self.fallback_providers),
            "threads": self.threads,
            "inter_op_threads": 1,
            "execution_mode": "sequential",
            "graph_optimization": self.graph_optimization,
        }

    def _session_options(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, GRAPH_OPTIMIZATION_LEVELS[self.graph_optimization]
        )
        options.log_severity_level = 3
        return options

    def _prepare(
        self, model: nn.Module, input_shape: tuple[int, int, int], batch: int, workdir: Path
    ) -> RunOnce:
        from hwnas.onnx_export import export_onnx

        path = export_onnx(model, workdir / f"{self.name}.onnx", input_shape)
        return self._session_runner(path, input_shape, batch)  # prepare() runs it once

    def prepare_onnx(
        self, path: str | Path, input_shape: tuple[int, int, int], batch: int
    ) -> RunOnce:
        """Like :meth:`prepare`, for an existing ONNX file (e.g. a quantized variant)."""
        self.check_available()
        run_once = self._session_runner(path, input_shape, batch)
        run_once()  # first-call initialisation is not timed
        return run_once

    def _session_runner(
        self, path: str | Path, input_shape: tuple[int, int, int], batch: int
    ) -> RunOnce:
        """A session on ``path`` and the function timing one inference (not yet run)."""
        import onnxruntime as ort

        providers = [self.provider, *self.fallback_providers]
        try:
            with warnings.catch_warnings():  # a fallback is reported below, as an error
                warnings.simplefilter("ignore")
                session = ort.InferenceSession(
                    str(path), self._session_options(), providers=providers
                )
        except Exception as error:  # onnxruntime raises its own (unexported) exception types
            raise HwnasError(
                f"runtime {self.name!r}: onnxruntime could not create a session: {error}"
            ) from error
        used = session.get_providers()
        if not used or used[0] != self.provider:
            raise HwnasError(
                f"runtime {self.name!r}: onnxruntime fell back to {used} instead of "
                f"{self.provider} (are the CUDA/TensorRT libraries installed?)"
            )
        feed = {"input": _example_input(input_shape, batch)}
        run = session.run
        clock = time.perf_counter

        def run_once() -> float:
            start = clock()
            # As a user calls it: ``run(None, ...)`` (every output) costs about 0.3 us more
            # per call here than naming the output, 4 % of a 7 us model.
            run(None, feed)
            return (clock() - start) * 1e3

        return run_once


@register_runtime("onnxruntime-cpu")
class OnnxRuntimeCPU(_OnnxRuntime):
    """onnxruntime on ``CPUExecutionProvider``."""

    anchored = True

    provider = "CPUExecutionProvider"
    install_hint = "install onnxruntime"


@register_runtime("onnxruntime-cuda")
class OnnxRuntimeCUDA(_OnnxRuntime):
    """onnxruntime on ``CUDAExecutionProvider`` (host input, copies included)."""

    device_kind = "gpu"
    provider = "CUDAExecutionProvider"
    install_hint = (
        "install onnxruntime-gpu (and a CUDA-capable GPU with its driver), "
        "or time the GPU with the torch-cuda runtime"
    )


@register_runtime("onnxruntime-tensorrt")
class OnnxRuntimeTensorRT(_OnnxRuntime):
    """onnxruntime on ``TensorrtExecutionProvider`` (the engine is built in ``prepare``)."""

    device_kind = "gpu"
    provider = "TensorrtExecutionProvider"
    fallback_providers = ("CUDAExecutionProvider",)
    install_hint = (
        "install onnxruntime-gpu and TensorRT (and a CUDA-capable GPU), "
        "or time the GPU with the torch-cuda runtime"
    )


# -- PyTorch eager ------------------------------------------------------------------------


@register_runtime("torch-cpu")
class TorchCPU(Runtime):
    """Eager PyTorch on the CPU with ``threads`` intra-op threads."""

    anchored = True

    def __init__(self, threads: int = 1) -> None:
        self.threads = _check_threads(threads)

    def available(self) -> tuple[bool, str]:
        try:
            import torch  # noqa: F401
        except ImportError:  # pragma: no cover - torch is a dependency
            return False, "torch is not installed: install torch"
        return True, ""

    def settings(self) -> dict[str, Any]:
        return {"threads": self.threads, "mode": "eager", "inference_mode": True}

    def _prepare(
        self, model: nn.Module, input_shape: tuple[int, int, int], batch: int, workdir: Path
    ) -> RunOnce:
        import torch

        net = copy.deepcopy(model).cpu().eval()
        x = torch.from_numpy(_example_input(input_shape, batch))
        threads = self.threads
        clock = time.perf_counter

        def run_once() -> float:
            previous = torch.get_num_threads()
            if previous != threads:
                torch.set_num_threads(threads)
            try:
                with torch.inference_mode():
                    start = clock()
                    net(x)
                    elapsed = clock() - start
            finally:
                if previous != threads:
                    torch.set_num_threads(previous)
            return elapsed * 1e3

        return run_once


@register_runtime("torch-cuda")
class TorchCUDA(Runtime):
    """Eager PyTorch on ``cuda:0``, timed with CUDA events.

    Args:
        host_copies: Also time the copies of the input in and the logits out.
        cudnn_benchmark: Let cuDNN autotune its algorithms in the untimed first call.
        tf32: Run float32 convolutions and matrix products in TF32.
        warmup_seconds: Untimed back-to-back inferences after the autotuning call.

    :mod:`hwnas.profiling.cuda` says why these are the defaults.
    """

    device_kind = "gpu"

    def __init__(
        self,
        host_copies: bool = False,
        cudnn_benchmark: bool = True,
        tf32: bool = True,
        warmup_seconds: float = 0.3,
    ) -> None:
        from hwnas.profiling.cuda import CudaOptions

        self.options = CudaOptions.checked(
            host_copies=host_copies,
            cudnn_benchmark=cudnn_benchmark,
            tf32=tf32,
            warmup_seconds=warmup_seconds,
        )

    def available(self) -> tuple[bool, str]:
        from hwnas.profiling.cuda import cuda_available

        return cuda_available()

    def settings(self) -> dict[str, Any]:
        return {
            "device": "cuda:0",
            "mode": "eager",
            "inference_mode": True,
            "timer": "cuda-event",
            **self.options.model_dump(),
        }

    def _prepare(
        self, model: nn.Module, input_shape: tuple[int, int, int], batch: int, workdir: Path
    ) -> RunOnce:
        from hwnas.profiling.cuda import prepare_cuda

        return prepare_cuda(model, _example_input(input_shape, batch), self.options)


def runtime_with_threads(name: str, threads: int, *, check: bool = True, **options: Any) -> Runtime:
    """:func:`create_runtime` with ``threads`` where the runtime has that setting, and
    other ``options`` of it (e.g. ``host_copies=True``; an unknown one is a ConfigError)."""
    import inspect

    parameters = inspect.signature(RUNTIMES.get(name)).parameters
    for key in options:
        if key not in parameters or key == "threads":
            known = ", ".join(p for p in parameters if p != "threads") or "none"
            raise ConfigError("runtime option", f"an option of {name} ({known})", key)
    if "threads" in parameters:
        options["threads"] = threads
    return create_runtime(name, check=check, **options)
