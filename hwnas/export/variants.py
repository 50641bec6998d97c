"""fp16 and int8 variants of an exported model: conversion, parity, and which one to deploy.

A variant is only worth offering when it computes what the fp32 model computes and is
faster. Each one is compared with the fp32 file on the validation inputs (both run by
onnxruntime) and must pass its parity rule, or it is flagged (``parity: false``, with the
numbers) and never offered:

- **fp16**: the largest absolute logit difference is at most ``FP16_LOGIT_RTOL`` (1e-2) of
  the logit scale (the largest absolute fp32 logit, at least 1). fp16 keeps about three
  decimal digits (machine epsilon 9.8e-4); rounding weights and activations through a
  network leaves differences of about 1e-3 of the scale, so 1e-2 leaves a factor of ten,
  while a conversion fault (a constant clamped to fp16's range, an overflow) moves the
  logits by their own size.
- **int8**: quantization moves every logit by a few percent by design, so logits are not
  compared; predictions are. At least ``INT8_MIN_AGREEMENT`` (99 %) of the validation
  predictions equal the fp32 model's, and validation accuracy drops by at most
  ``MAX_ACCURACY_DROP`` (half a point).

A variant that passes is *offered* (``deploy`` may pick it) only when it also measures
faster than fp32 on the run's runtime beyond noise (at most ``1 - FASTER_MARGIN`` of fp32's
latency: back-to-back medians of the measurement protocol differ by up to 3 %) and loses
at most ``MAX_ACCURACY_DROP`` of validation accuracy; among those the fastest is deployed,
otherwise fp32. Decisions use the validation split; test accuracy is recorded beside them,
never used to decide.

Why fp16 needed care: ``convert_float_to_float16`` clamps every constant to fp16's range
(±65504). A standalone BatchNormalization (one that does not follow a convolution, as
NAS-Bench-201's last BN after a sum of skip and pooling edges) can hold running variances
of 1e7 for activations in the thousands; clamped to 65504, the BN scaled its output
about 13x wrong (logits off by 10-25 with a scale of 3). Nodes with a constant outside
fp16's range therefore stay in fp32 (the converter's ``node_block_list``; onnxruntime
casts around them); input and output stay fp32 (``keep_io_types``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.export.selection import LATENCY_NOISE

VARIANTS = ("fp32", "fp16", "int8")
FP16_LOGIT_RTOL = 1e-2
INT8_MIN_AGREEMENT = 0.99
MAX_ACCURACY_DROP = 0.005
#: A variant is offered only when it is faster than fp32 by at least this share of fp32's
#: latency: two back-to-back medians of one file under the measurement protocol differ by
#: up to 3 %, so a smaller difference is noise, not a speed-up (the margin of selection).
FASTER_MARGIN = LATENCY_NOISE
#: The largest finite fp16 number.
FP16_MAX = 65504.0


def convert(variant: str, fp32_path: Path, folder: Path, calibration: np.ndarray) -> Path:
    """Write ``model.<variant>.onnx`` next to the fp32 file; returns its path.

    Args:
        variant: ``fp16`` or ``int8``.
        fp32_path: The fp32 ONNX file.
        folder: Where to write.
        calibration: Training inputs (float32, NCHW) for int8 activation ranges.
    """
    target = folder / f"model.{variant}.onnx"
    if variant == "fp16":
        _to_fp16(fp32_path, target)
    else:
        _to_int8(fp32_path, target, folder, calibration)
    return target


def _to_fp16(source: Path, target: Path) -> None:
    import warnings

    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load(source)
    with warnings.catch_warnings():  # the converter warns about what we keep in fp32
        warnings.simplefilter("ignore")
        proto = convert_float_to_float16(
            proto, keep_io_types=True, node_block_list=out_of_fp16_range(proto)
        )
    onnx.save(proto, target)


def out_of_fp16_range(proto: Any) -> list[str]:
    """Names of the nodes reading a float constant that fp16 cannot hold (|x| > 65504)."""
    from onnx import numpy_helper

    too_large = {
        init.name
        for init in proto.graph.initializer
        if init.data_type == 1  # FLOAT
        and np.any(np.abs(numpy_helper.to_array(init)) > FP16_MAX)
    }
    return [n.name for n in proto.graph.node if too_large.intersection(n.input)]


def _to_int8(source: Path, target: Path, folder: Path, calibration: np.ndarray) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Calibration(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            x = calibration
            self._batches = iter([{"input": x[i : i + 32]} for i in range(0, len(x), 32)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    prepared = folder / "model.int8-prep.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
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


def onnx_logits(path: Path, x: np.ndarray) -> np.ndarray:
    """The logits of an ONNX file on ``x`` (float32, NCHW), by onnxruntime on the CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out = [session.run(["logits"], {"input": x[i : i + 256]})[0] for i in range(0, len(x), 256)]
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose largest logit is the label."""
    return float((logits.argmax(1) == labels).mean()) if len(labels) else 0.0


def parity(variant: str, fp32: np.ndarray, other: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The parity numbers of ``other`` against ``fp32`` logits and the verdict.

    Returns:
        ``parity`` (bool), ``parity_rule`` (the rule, in words), ``max_abs_logit_diff``,
        ``logit_scale``, ``agreement`` (share of equal predictions) and
        ``val_accuracy_drop`` (fp32 minus variant, a fraction).
    """
    diff = float(np.max(np.abs(other - fp32))) if fp32.size else 0.0
    scale = max(1.0, float(np.max(np.abs(fp32)))) if fp32.size else 1.0
    agreement = float((other.argmax(1) == fp32.argmax(1)).mean()) if len(fp32) else 1.0
    drop = accuracy(fp32, labels) - accuracy(other, labels)
    if variant == "fp16":
        ok = diff <= FP16_LOGIT_RTOL * scale
        rule = f"max |logit difference| <= {FP16_LOGIT_RTOL:g} x logit scale"
    else:
        ok = agreement >= INT8_MIN_AGREEMENT and drop <= MAX_ACCURACY_DROP
        rule = (
            f"prediction agreement >= {100 * INT8_MIN_AGREEMENT:g} % and validation accuracy "
            f"drop <= {100 * MAX_ACCURACY_DROP:g} point"
        )
    return {
        "parity": bool(ok),
        "parity_rule": rule,
        "max_abs_logit_diff": diff,
        "logit_scale": scale,
        "agreement": agreement,
        "val_accuracy_drop": drop,
    }


#: A variant screened at this many times fp32's latency or more is not measured again on
#: the full protocol (see :func:`make_variant`): screen and full protocol agree within a
#: few per cent here, and the anchor corrects both for the machine's drift.
CLEARLY_SLOWER = 1.1


def make_variant(
    variant: str,
    fp32_path: Path,
    dataset: Any,
    measure: Any,
    *,
    screen: Any = None,
    fp32_ms: float | None = None,
) -> dict[str, Any]:
    """Convert, check parity and measure one variant of ``fp32_path``.

    Args:
        variant: ``fp16`` or ``int8``.
        fp32_path: The fp32 ONNX file (the variant is written next to it).
        dataset: The run's dataset (validation inputs for parity, training for int8
            calibration, test for the recorded test accuracy).
        measure: Latency in ms of an ONNX file here, or ``None`` when it cannot be measured.
        screen: A shorter measurement (the run's profile protocol), taken first when
            ``fp32_ms`` is given: a variant it finds at least ``CLEARLY_SLOWER`` times
            ``fp32_ms`` keeps that figure (``latency_protocol: screen``; it cannot be
            offered, and the full protocol would only confirm it). Small models at small
            inputs run slower in int8 than in fp32 on a CPU, and the full protocol takes
            1-5 s a file.

    Returns:
        The manifest entry: ``file`` (the file name), ``val_accuracy``, ``test_accuracy``,
        ``measured_latency_ms``, ``latency_protocol`` (``full`` or ``screen``) and the
        :func:`parity` numbers.
    """
    val_x = dataset.val.x.numpy().astype(np.float32)
    calibration = dataset.train.x[:256].numpy().astype(np.float32)
    target = convert(variant, fp32_path, fp32_path.parent, calibration)
    val = onnx_logits(target, val_x)
    checked = parity(variant, onnx_logits(fp32_path, val_x), val, dataset.val.y.numpy())
    test = onnx_logits(target, dataset.test.x.numpy().astype(np.float32))
    ms, how = _latency(target, measure, screen, fp32_ms)
    out = {
        "file": target.name,
        "val_accuracy": accuracy(val, dataset.val.y.numpy()),
        "test_accuracy": accuracy(test, dataset.test.y.numpy()),
        "measured_latency_ms": ms,
        "latency_protocol": how,
        **checked,
    }
    own_metadata(target, variant, out)
    return out


def own_metadata(path: Path, variant: str, figures: Mapping[str, Any]) -> None:
    """Give a variant file (converted with the fp32 file's metadata) its own figures:
    ``hwnas.variant``, its accuracies and measured latency; fp32's figures (latencies,
    accuracies, feasibility) move to ``hwnas.fp32_*`` keys."""
    import onnx

    from hwnas.io import atomic_write_bytes

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    fp32_only = (
        "predicted_latency_ms",
        "search_predicted_latency_ms",
        "measured_latency_ms",
        "val_accuracy",
        "test_accuracy",
        # Judged on fp32's figures; the variant's own latency and accuracies are its
        # plain keys (and in the manifest).
        "feasible",
        "broken_budgets",
    )
    for key in fp32_only:
        if f"hwnas.{key}" in props:
            props[f"hwnas.fp32_{key}"] = props.pop(f"hwnas.{key}")
    ms = figures.get("measured_latency_ms")
    props.update(
        {
            "hwnas.variant": variant,
            "hwnas.val_accuracy": f"{figures['val_accuracy']:.6f}",
            "hwnas.test_accuracy": f"{figures['test_accuracy']:.6f}",
            "hwnas.measured_latency_ms": "" if ms is None else f"{ms:.6g}",
        }
    )
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    atomic_write_bytes(path, proto.SerializeToString())


def _latency(
    path: Path, measure: Any, screen: Any, fp32_ms: float | None
) -> tuple[float | None, str]:
    """A variant's latency and the protocol it was taken with (see :func:`make_variant`)."""
    if screen is not None and fp32_ms is not None:
        quick = screen(path)
        if quick is not None and quick >= CLEARLY_SLOWER * fp32_ms:
            return quick, "screen"
    return measure(path), "full"


def choose_deploy(
    fp32_latency_ms: float | None, variants: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str, dict[str, bool]]:
    """Which file to deploy and why, and which variants are offered.

    A variant is offered when it passed parity, measured faster than fp32 beyond noise (at
    most ``1 - FASTER_MARGIN`` times fp32's latency) and lost at most ``MAX_ACCURACY_DROP``
    of validation accuracy; the fastest offered one is deployed, else fp32.

    Returns:
        ``(deploy, reason, offered)``: ``deploy`` is ``fp32``, ``fp16`` or ``int8``;
        ``offered`` maps each variant to whether it is offered.
    """
    offered: dict[str, bool] = {}
    notes: list[str] = []
    for name, info in variants.items():
        ms = info.get("measured_latency_ms")
        if not info.get("parity"):
            notes.append(f"{name} failed parity ({info.get('parity_rule')})")
        elif ms is None or fp32_latency_ms is None:
            notes.append(f"{name} not measured")
        elif ms > (1 - FASTER_MARGIN) * fp32_latency_ms:
            how = ", screened" if info.get("latency_protocol") == "screen" else ""
            figures = f"{ms:.4f} vs {fp32_latency_ms:.4f} ms{how}"
            if ms >= fp32_latency_ms:
                notes.append(f"{name} not faster ({figures})")
            else:
                margin = f"{100 * FASTER_MARGIN:g} %"
                notes.append(f"{name} not faster beyond noise ({figures}; margin {margin})")
        elif info["val_accuracy_drop"] > MAX_ACCURACY_DROP:
            notes.append(f"{name} loses {100 * info['val_accuracy_drop']:.1f} points")
        else:
            offered[name] = True
            continue
        offered[name] = False
    winners = sorted((variants[n]["measured_latency_ms"], n) for n, ok in offered.items() if ok)
    if not winners:
        return "fp32", "; ".join(notes) or "no variant made", offered
    ms, name = winners[0]
    assert fp32_latency_ms is not None  # offered variants were compared with it
    drop = 100 * variants[name]["val_accuracy_drop"]
    reason = (
        f"{name}: {fp32_latency_ms / ms:.2f}x faster than fp32 ({ms:.4f} vs "
        f"{fp32_latency_ms:.4f} ms), validation accuracy {-drop:+.1f} points, parity passed"
    )
    return name, "; ".join([reason, *notes]), offered
