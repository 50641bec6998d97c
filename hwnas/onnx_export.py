"""ONNX export of hwnas models and its check against onnxruntime.

The legacy TorchScript-based exporter (``dynamo=False``) is used: it needs no extra
package, is fast, and handles every operator the search spaces use.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwnas.errors import ConfigError

DEFAULT_OPSET = 17
#: The opsets export accepts: every space exported and passed parity at 9-22 here (torch
#: 2.13); below 11 the int8 variant's operators are missing, and the top is the
#: installed exporter's own.
MIN_OPSET = 11
try:
    from torch.onnx._constants import ONNX_MAX_OPSET as MAX_OPSET
except ImportError:  # a torch that moved it: the opsets known to work
    MAX_OPSET = 20


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    input_shape: tuple[int, ...],
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Export ``model`` (in eval mode) to an ONNX file, atomically.

    Args:
        model: The model; exported in eval mode and left in the mode it was in.
        path: Where to write the ``.onnx`` file (parent folders are created).
        input_shape: ``(C, H, W)`` of one image, or ``(L,)`` of one sequence of token ids
            (an int64 input; :mod:`hwnas.data.inputs`).
        opset: The ONNX opset version.
        dynamic_batch: Whether the batch dimension is symbolic (``batch``).
        metadata: String key/values stored in the model's ``metadata_props``.

    Returns:
        The path written. The graph has one input ``input`` and one output ``logits``.
    """
    import io

    import onnx

    from hwnas.data.inputs import example_input
    from hwnas.io import atomic_write_bytes

    if Path(path).is_dir():
        raise ConfigError("path", "the path of an .onnx file, not a folder", str(path))
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example_input(input_shape),),
                buffer,  # type: ignore[arg-type]
                input_names=["input"],
                output_names=["logits"],
                opset_version=opset,
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}
                if dynamic_batch
                else None,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buffer.getvalue())
    if metadata:
        onnx.helper.set_model_props(proto, {str(k): str(v) for k, v in metadata.items()})
    onnx.checker.check_model(proto)
    return atomic_write_bytes(path, proto.SerializeToString())


def onnx_parity(
    model: nn.Module,
    path: str | os.PathLike[str],
    inputs: torch.Tensor,
    providers: tuple[str, ...] = ("CPUExecutionProvider",),
) -> float:
    """Max absolute difference between ``model`` (eval mode) and the ONNX file on ``inputs``."""
    import onnxruntime as ort

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(inputs).numpy()
    finally:
        model.train(was_training)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=list(providers))
    feed = inputs.numpy()  # token ids stay int64, images are fed as float32
    feed = feed if feed.dtype.kind in "iu" else feed.astype(np.float32)
    (got,) = session.run(["logits"], {"input": feed})
    return float(np.max(np.abs(got - expected)))
