"""Evaluators: accuracy estimates for architectures, behind one interface."""

from hwnas.evaluators.base import (
    EVALUATORS,
    EvalResult,
    Evaluator,
    create_evaluator,
    list_evaluators,
    register_evaluator,
)

__all__ = [
    "EVALUATORS",
    "EvalResult",
    "Evaluator",
    "create_evaluator",
    "list_evaluators",
    "register_evaluator",
]
