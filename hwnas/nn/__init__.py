"""Builders from architectures to ``torch.nn.Module`` (one per search space)."""

from hwnas.nn.build import HwnasNet, build_model, check_input_shape, recalibrate_batchnorm

__all__ = ["HwnasNet", "build_model", "check_input_shape", "recalibrate_batchnorm"]
