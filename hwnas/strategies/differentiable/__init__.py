"""``differentiable``: gradient-based search over the supernet under a hard latency ceiling
(see :mod:`hwnas.strategies.differentiable.strategy`)."""

from hwnas.strategies.differentiable.strategy import DifferentiableSearch

__all__ = ["DifferentiableSearch"]
