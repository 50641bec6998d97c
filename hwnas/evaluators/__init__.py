"""Evaluators: accuracy estimates for architectures, behind one interface."""

from hwnas.evaluators.base import (
    EVALUATORS,
    EvalResult,
    Evaluator,
    create_evaluator,
    list_evaluators,
    register_evaluator,
)
from hwnas.evaluators.cache import CachedEvaluator, EvalCache, cache_key
from hwnas.evaluators.standalone import StandaloneEvaluator
from hwnas.evaluators.supernet import SupernetEvaluator
from hwnas.evaluators.surrogate import SurrogateEvaluator
from hwnas.evaluators.tabular import TabularEvaluator

__all__ = [
    "EVALUATORS",
    "CachedEvaluator",
    "EvalCache",
    "EvalResult",
    "Evaluator",
    "StandaloneEvaluator",
    "SupernetEvaluator",
    "SurrogateEvaluator",
    "TabularEvaluator",
    "cache_key",
    "create_evaluator",
    "list_evaluators",
    "register_evaluator",
]
