"""The evaluator interface: an architecture in, its accuracy metrics and their cost out.

Every search strategy gets its accuracy estimates through an evaluator. Implementations:
``supernet`` (inherited weights), ``standalone`` (train from scratch), ``tabular`` (a
published benchmark table) and ``surrogate`` (a model fitted on what was evaluated so far).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from hwnas.registry import Registry
from hwnas.spaces.base import Arch, SearchSpace

EVALUATORS: Registry[Evaluator] = Registry("evaluator")


@dataclass
class EvalResult:
    """What one evaluation measured.

    Attributes:
        metrics: Named metrics; ``accuracy`` (a fraction in [0, 1], on the validation split)
            is always present. Other keys are evaluator specific (``val_loss``...).
        cost_seconds: Wall time the evaluation took (or, for a table, the training time the
            table records, when it has one).
        info: Free-form JSON-able details (checkpoint hash, epochs...).
    """

    metrics: dict[str, float]
    cost_seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


class Evaluator(abc.ABC):
    """Estimates the accuracy of architectures of one search space."""

    name: ClassVar[str]
    space: SearchSpace

    def check_arch(self, arch: Arch) -> Arch:
        """``arch`` itself, after checking that it belongs to the evaluator's space.

        Raises:
            ArchError: ``arch`` belongs to another search space.
        """
        return self.space.check_arch(arch)

    @abc.abstractmethod
    def evaluate(self, arch: Arch) -> EvalResult:
        """Evaluate one architecture."""

    @abc.abstractmethod
    def cache_key(self) -> dict[str, Any]:
        """Everything a result depends on besides the architecture (JSON-able).

        Two evaluators with equal keys give equal results for the same architecture; a
        cache must include this key so that a stale result is never reused.
        """


def register_evaluator(name: str) -> Callable[[Callable[..., Any]], Any]:
    """Class decorator registering an :class:`Evaluator` under ``name``."""
    return EVALUATORS.register(name)


def create_evaluator(name: str, **kwargs: Any) -> Evaluator:
    """The evaluator registered as ``name``, built with ``kwargs``."""
    return EVALUATORS.create(name, **kwargs)


def list_evaluators() -> list[str]:
    """The names of the registered evaluators."""
    return EVALUATORS.names()
