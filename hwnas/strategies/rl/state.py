"""The ``rl`` strategy's state as plain JSON: tensors as nested lists, no pickle.

Float32 values written as Python floats read back bit for bit, so a restored strategy
continues exactly as the saved one would have.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def tensors_to_json(tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``{name: nested list}`` of a module's ``state_dict``."""
    return {name: value.detach().cpu().tolist() for name, value in tensors.items()}


def tensors_from_json(values: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The inverse of :func:`tensors_to_json` (float32)."""
    return {name: torch.tensor(value, dtype=torch.float32) for name, value in values.items()}


def optimizer_to_json(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """An optimiser's ``state_dict`` with every tensor as a nested list."""
    state = optimizer.state_dict()
    return {
        "state": {
            str(index): {
                k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in slots.items()
            }
            for index, slots in state["state"].items()
        },
        "param_groups": [
            {k: list(v) if isinstance(v, tuple) else v for k, v in group.items()}
            for group in state["param_groups"]
        ],
    }


def optimizer_from_json(optimizer: torch.optim.Optimizer, values: dict[str, Any]) -> None:
    """Load what :func:`optimizer_to_json` wrote into ``optimizer``."""
    state = {
        int(index): {k: torch.tensor(v, dtype=torch.float32) for k, v in slots.items()}
        for index, slots in values["state"].items()
    }
    groups = [
        {k: tuple(v) if k == "betas" else v for k, v in group.items()}
        for group in values["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def finite_or_none(value: float | None) -> float | None:
    """``value``, or ``None`` for ``None`` and ``nan`` (JSON has no ``nan``)."""
    return None if value is None or math.isnan(value) else float(value)


def none_to_nan(value: float | None) -> float:
    """The inverse of :func:`finite_or_none` for values that may be ``nan``."""
    return math.nan if value is None else float(value)
