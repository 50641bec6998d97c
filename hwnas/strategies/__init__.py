"""Search strategies behind one ask/tell interface and a registry."""

from hwnas.strategies import evolution, nsga2, random, surrogate_ehvi  # noqa: F401  (registration)
from hwnas.strategies.base import (
    STRATEGIES,
    Problem,
    Strategy,
    create_strategy,
    list_strategies,
    register_strategy,
)

__all__ = [
    "STRATEGIES",
    "Problem",
    "Strategy",
    "create_strategy",
    "list_strategies",
    "register_strategy",
]
