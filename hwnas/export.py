"""Deployable export of a run's Pareto set: trained, verified, re-measured ONNX models.

For each Pareto-optimal architecture of a finished (or stopped) run, :func:`export_run`

1. trains it from scratch with the final recipe (the search used cheap estimates),
2. exports it to ONNX (dynamic batch axis, metadata: architecture, accuracy, predicted and
   measured latency, device), checked by ``onnx.checker``,
3. compares onnxruntime's outputs with PyTorch's on validation images (max abs diff,
   <= 1e-4 required for fp32),
4. re-measures its latency on the run's target runtime with the profiling protocol, and
5. flags it: a model that breaks a budget once measured is marked ``feasible: false``,
   never shipped as feasible.

Optional ``fp16`` and ``int8`` variants (onnxruntime float16 conversion; static
quantization calibrated on the training split) get their own accuracy and latency; a
variant that cannot be made is left out and listed under the manifest's ``failures``
(``part``, ``error``). ``runs/<id>/export/manifest.json`` lists the set.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.errors import ConfigError, HwnasError
from hwnas.io import atomic_write_json
from hwnas.parts import Parts

VARIANTS = ("fp32", "fp16", "int8")
PARITY_TOLERANCE = 1e-4


@dataclass
class ExportedModel:
    """One exported model and its measured numbers."""

    name: str
    arch: str
    files: dict[str, str]
    val_accuracy: float
    test_accuracy: float
    predicted_latency_ms: float | None
    measured_latency_ms: float | None
    macs: int
    params: int
    max_abs_diff: float
    feasible: bool
    broken_budgets: list[str]
    variants: dict[str, dict[str, Any]]
    search_accuracy: float | None
    train_seconds: float
    #: Non-domination rank among the search's feasible candidates (0: its Pareto front).
    search_rank: int = 0
    #: Non-dominated among the exported feasible models, on trained accuracy and measured
    #: latency (set once all are trained).
    pareto: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the manifest entry)."""
        return {
            "name": self.name,
            "file": self.files["fp32"],
            "arch": self.arch,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "search_accuracy": self.search_accuracy,
            "predicted_latency_ms": self.predicted_latency_ms,
            "measured_latency_ms": self.measured_latency_ms,
            "macs": self.macs,
            "params": self.params,
            "max_abs_diff": self.max_abs_diff,
            "feasible": self.feasible,
            "broken_budgets": self.broken_budgets,
            "search_rank": self.search_rank,
            "pareto": self.pareto,
            "variants": self.variants,
            "train_seconds": round(self.train_seconds, 2),
        }


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "model"


def export_run(
    run_dir: str | Path,
    *,
    top_k: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    opset: int = 17,
    variants: Sequence[str] = ("fp32",),
    measure: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Train, export, verify and re-measure the Pareto set of ``run_dir``.

    Args:
        run_dir: A run folder (``runs/<id>``).
        top_k: Export this many models (when that many are feasible): the search's Pareto
            front, spread evenly along it when it is larger (its most accurate and fastest
            models always kept), filled from the next non-dominated fronts when smaller.
            Default: the whole front.
        epochs: Final training epochs (default: the recipe's).
        seed: Training seed (default: the run's).
        opset: ONNX opset.
        variants: Any of ``fp32`` (always), ``fp16``, ``int8``.
        measure: Re-measure latency on the run's runtime (it must be available here).
        progress: Show progress on stderr.

    Returns:
        The manifest (also written to ``runs/<id>/export/manifest.json``).

    Raises:
        HwnasError: Missing or corrupted run folder, unavailable runtime, or no exported
            model meeting the budgets (the manifest is written first, with the flags).
    """
    from hwnas.objectives import metric_value
    from hwnas.onnx_export import export_onnx, onnx_parity
    from hwnas.pareto import ranked_selection
    from hwnas.runs import open_run
    from hwnas.train import Recipe, train_arch

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError("--variants", f"a subset of {', '.join(VARIANTS)}", unknown)
    if top_k is not None and top_k < 1:
        raise ConfigError("--top-k", "a positive integer", top_k)
    run = open_run(run_dir)
    config, components = run.config, run.components
    runtime = target_runtime(config) if measure else None
    with run.store() as store:
        space = components.space
        selection = ranked_selection(
            store.candidates(),
            components.objectives,
            components.search_budgets,
            top_k,
            key=lambda c: space.network_key(space.parse(c.arch)),  # one model per network
        )
        device_fingerprint = store.get_meta("device_fingerprint")
    if not selection:
        raise HwnasError(f"{run.path}: the run has no feasible evaluated candidate to export")
    recipe = Recipe(**{**Recipe().to_dict(), **({"epochs": epochs} if epochs else {})})
    seed = config.seed if seed is None else seed
    out_dir = run.path / "export"
    out_dir.mkdir(exist_ok=True)
    dataset = components.dataset
    shape = dataset.input_shape
    models: list[ExportedModel] = []
    parts = Parts(say=_warn if progress else None)
    for index, (candidate, rank) in enumerate(selection):
        arch = space.parse(candidate.arch)
        started = time.perf_counter()
        model, result = train_arch(
            space, arch, dataset, recipe, seed=seed, evaluate_test=True, progress=progress
        )
        train_seconds = time.perf_counter() - started
        name = f"{index:02d}-{_slug(str(arch))}"
        folder = out_dir / name
        predicted = candidate.metrics.get("latency_ms")
        measured = None
        if runtime is not None:
            batch = config.device.batch if config.device is not None else 1
            measured = measure_latency_ms(runtime, model, shape, batch)
        metrics = {
            **candidate.metrics,
            "accuracy": result.val_accuracy,
            "error": 1 - result.val_accuracy,
        }
        if measured is not None:
            metrics["latency_ms"] = measured
        broken = [str(b) for b in components.budgets if not b.met(metric_value(metrics, b.metric))]
        metadata = {
            "hwnas.space": space.name,
            "hwnas.arch": str(arch),
            "hwnas.val_accuracy": f"{result.val_accuracy:.6f}",
            "hwnas.test_accuracy": f"{result.test_accuracy:.6f}",
            "hwnas.predicted_latency_ms": "" if predicted is None else f"{predicted:.6f}",
            "hwnas.measured_latency_ms": "" if measured is None else f"{measured:.6f}",
            "hwnas.device_id": str(device_fingerprint.get("device_id", ""))
            if device_fingerprint
            else "",
            "hwnas.input_mean": ",".join(f"{m:.6f}" for m in dataset.mean),
            "hwnas.input_std": ",".join(f"{s:.6f}" for s in dataset.std),
            "hwnas.feasible": str(not broken).lower(),
        }
        path = export_onnx(model, folder / "model.onnx", shape, opset=opset, metadata=metadata)
        diff = onnx_parity(model, path, dataset.val.x[:64])
        if diff > PARITY_TOLERANCE:
            raise HwnasError(
                f"{path}: onnxruntime differs from PyTorch by {diff:.2e} (> {PARITY_TOLERANCE})"
            )
        files = {"fp32": str(path.relative_to(out_dir))}
        extra = {}
        for variant in variants:
            if variant == "fp32":
                continue
            batch = config.device.batch if config.device is not None else 1
            # A variant is an extra: one that cannot be made is recorded, the model stays.
            info = parts.attempt(
                f"{name}: {variant} variant",
                partial(_variant, variant, path, folder, dataset, runtime, shape, batch),
            )
            if info is None:
                continue
            files[variant] = str((folder / info.pop("file")).relative_to(out_dir))
            extra[variant] = {"file": files[variant], **info}
        costs = candidate.metrics
        models.append(
            ExportedModel(
                name=name,
                arch=str(arch),
                files=files,
                val_accuracy=result.val_accuracy,
                test_accuracy=float(result.test_accuracy or 0.0),
                predicted_latency_ms=predicted,
                measured_latency_ms=measured,
                macs=int(costs["macs"]),
                params=int(costs["params"]),
                max_abs_diff=diff,
                feasible=not broken,
                broken_budgets=broken,
                variants=extra,
                search_accuracy=candidate.metrics.get("accuracy"),
                train_seconds=train_seconds,
                search_rank=rank,
            )
        )
    _mark_pareto(models, components.objectives)
    manifest = {
        "run": str(run.path),
        "space": space.name,
        "objectives": list(components.objectives),
        "budgets": [str(b) for b in components.budgets],
        **_budget_maxima(components.budgets),
        "device_fingerprint": device_fingerprint,
        "measured_on": runtime.name if runtime is not None else None,
        "dataset": dataset.summary(),
        "recipe": recipe.to_dict(),
        "seed": seed,
        "opset": opset,
        "models": [m.to_dict() for m in models],
        "failures": parts.to_list(),
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    if components.budgets and not any(m.feasible for m in models):
        raise HwnasError(
            f"no exported model meets the budgets ({', '.join(manifest['budgets'])}) once "
            f"trained and measured; see {out_dir / 'manifest.json'}"
        )
    return manifest


def _mark_pareto(models: list[ExportedModel], objectives: Sequence[str]) -> None:
    """Flag the feasible models no other feasible exported model dominates, on trained
    validation accuracy and measured latency (predicted where not measured)."""
    from hwnas.objectives import objective_vector
    from hwnas.pareto import pareto_mask

    if not models:
        return
    F = []
    for m in models:
        latency = m.measured_latency_ms
        if latency is None:
            latency = m.predicted_latency_ms
        metrics: dict[str, float] = {
            "accuracy": m.val_accuracy,
            "error": 1 - m.val_accuracy,
            "latency_ms": float("nan") if latency is None else latency,
            "macs": m.macs,
            "params": m.params,
        }
        F.append(objective_vector(metrics, tuple(objectives)))
    G = np.array([[0.0 if m.feasible else 1.0] for m in models])
    for model, keep in zip(models, pareto_mask(np.array(F, dtype=float), G), strict=True):
        model.pareto = bool(keep)


def _budget_maxima(budgets: Sequence[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for b in budgets:
        out[f"{b.metric}_{'max' if b.op == '<=' else 'min'}"] = b.bound
    return out


def target_runtime(config: Any) -> Any:
    """The runtime of a run's device (this CPU when the run has none), available here."""
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


def load_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """``runs/<id>/export/manifest.json``, or ``None`` when the run was not exported.

    Raises:
        HwnasError: The manifest is not JSON.
    """
    path = Path(run_dir) / "export" / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise HwnasError(f"{path}: corrupted (not JSON); export again") from None
    return manifest


def _warn(message: str) -> None:
    print(f"hwnas export: {message}", file=sys.stderr, flush=True)


def _variant(
    variant: str,
    fp32_path: Path,
    folder: Path,
    dataset: Any,
    runtime: Any,
    shape: tuple[int, int, int],
    batch: int,
) -> dict[str, Any]:
    """Convert ``fp32_path`` to an fp16 or int8 model; its accuracy and latency."""
    import onnx

    target = folder / f"model.{variant}.onnx"
    if variant == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        proto = convert_float_to_float16(onnx.load(fp32_path), keep_io_types=True)
        onnx.save(proto, target)
    else:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        class Calibration(CalibrationDataReader):  # type: ignore[misc]
            def __init__(self) -> None:
                x = dataset.train.x[:256].numpy().astype(np.float32)
                self._batches = iter([{"input": x[i : i + 32]} for i in range(0, len(x), 32)])

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self._batches, None)

        prepared = folder / "model.int8-prep.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            Calibration(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
        prepared.unlink()
    val_accuracy = _onnx_accuracy(target, dataset.val)
    test_accuracy = _onnx_accuracy(target, dataset.test)
    measured = None
    if runtime is not None and hasattr(runtime, "prepare_onnx"):
        from hwnas.profiling.protocol import measure

        measured = float(measure(runtime.prepare_onnx(target, shape, batch)).median_ms)
    return {
        "file": target.name,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
        "measured_latency_ms": measured,
    }


def _onnx_accuracy(path: Path, split: Any) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = split.x.numpy().astype(np.float32)
    correct = 0
    for start in range(0, len(x), 256):
        (logits,) = session.run(["logits"], {"input": x[start : start + 256]})
        correct += int((logits.argmax(1) == split.y[start : start + 256].numpy()).sum())
    return correct / max(1, len(x))
