"""Search strategies behind one ask/tell interface and a registry."""

import hwnas.strategies.differentiable  # noqa: F401  (registration)
from hwnas.strategies import evolution, nsga2, random, rl, surrogate  # noqa: F401  (registration)
from hwnas.strategies.base import (
    STRATEGIES,
    Problem,
    Status,
    Strategy,
    create_strategy,
    list_strategies,
    register_strategy,
)

__all__ = [
    "STRATEGIES",
    "Problem",
    "Status",
    "Strategy",
    "create_strategy",
    "list_strategies",
    "register_strategy",
]
