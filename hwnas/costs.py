"""MACs and parameter counts, with fvcore.

Convention: **MACs** are the multiply-accumulate operations of convolutions and fully
connected / matrix-multiply layers at batch size 1, as fvcore counts them (fvcore counts one
fused multiply-add as one "flop", so its count of these operators *is* the MAC count).
Element-wise work (batch norm, activations, pooling, additions) is not counted. FLOPs, where
a paper means real floating-point operations, are about 2 x MACs. NAS-Bench-201's "FLOPs"
(7.8 M to 220 M on CIFAR-10) follow this MAC convention and are reproduced by it.
**Parameters** are all trainable and non-trainable entries of ``model.parameters()``
(batch-norm running statistics, which are buffers, are not counted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

#: fvcore operator names counted as multiply-accumulates.
MAC_OPERATORS = frozenset({"conv", "linear", "matmul", "bmm", "einsum", "addmm", "baddbmm"})


@dataclass(frozen=True)
class Costs:
    """The compute cost of a model for one input sample."""

    macs: int
    params: int

    @property
    def flops(self) -> int:
        """Floating-point operations of the counted layers (2 per MAC)."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, int]:
        """``{"macs": ..., "params": ...}``."""
        return {"macs": self.macs, "params": self.params}


def count_params(model: nn.Module) -> int:
    """The number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass of ``model`` on a single ``input_shape`` (C, H, W) sample."""
    from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, torch.zeros(1, *input_shape))
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            # fvcore logs every operator it skips; element-wise ops are skipped on purpose.
            logger = logging.getLogger("fvcore.nn.jit_analysis")
            level = logger.level
            logger.setLevel(logging.ERROR)
            try:
                by_operator = analysis.by_operator()
            finally:
                logger.setLevel(level)
    finally:
        model.train(was_training)
    return int(sum(n for op, n in by_operator.items() if op in MAC_OPERATORS))


def count_costs(model: nn.Module, input_shape: tuple[int, ...]) -> Costs:
    """MACs and parameters of ``model`` for one ``input_shape`` sample."""
    return Costs(macs=count_macs(model, input_shape), params=count_params(model))
