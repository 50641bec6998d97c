"""Named, directed objectives and budgets (constraints), in the units their names carry.

Objectives are minimised: ``error`` (1 - validation accuracy), ``latency_ms`` (on the run's
device, from its predictor), ``macs`` and ``params``. Budgets read like a user thinks:
``"latency_ms <= 2.0"``, ``"accuracy >= 0.97"``, ``"params <= 1e6"``, ``"macs <= 50e6"``,
optionally ``"latency_ms <= 2.0 on <device-id>"``. A budget becomes a pymoo-style
constraint ``g <= 0`` (``value - bound`` for ``<=``, ``bound - value`` for ``>=``), never a
penalty.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from hwnas.errors import ConfigError

#: Metric names and whether they are "cheap" (known without an accuracy evaluation).
METRICS: dict[str, bool] = {
    "accuracy": False,
    "error": False,
    "latency_ms": True,
    "macs": True,
    "params": True,
}
#: The metrics that may be objectives (all minimised).
OBJECTIVES = ("error", "latency_ms", "macs", "params")

_BUDGET = re.compile(
    r"^\s*(?P<metric>[a-z_]+)\s*(?P<op><=|>=)\s*(?P<bound>[-+0-9.eE]+)"
    r"(?:\s+on\s+(?P<device>\S+))?\s*$"
)


@dataclass(frozen=True)
class Budget:
    """One constraint: ``metric op bound`` (``op`` is ``<=`` or ``>=``)."""

    metric: str
    op: str
    bound: float
    device: str | None = None

    def violation(self, value: float) -> float:
        """The pymoo constraint value: <= 0 when the budget is met."""
        return value - self.bound if self.op == "<=" else self.bound - value

    def met(self, value: float) -> bool:
        """Whether ``value`` meets the budget."""
        return self.violation(value) <= 0

    def __str__(self) -> str:
        text = f"{self.metric} {self.op} {self.bound:g}"
        return text + (f" on {self.device}" if self.device else "")

    @property
    def cheap(self) -> bool:
        """Whether the budget can be checked without an accuracy evaluation."""
        return METRICS[self.metric]


def parse_budget(text: str, field: str = "budgets") -> Budget:
    """Parse ``"metric <= bound [on device]"``; errors name ``field``."""
    match = _BUDGET.match(str(text))
    if match is None:
        raise ConfigError(field, "'<metric> <= <number>' or '<metric> >= <number>'", text)
    metric, op = match["metric"], match["op"]
    if metric not in METRICS:
        raise ConfigError(field, f"a metric among {', '.join(METRICS)}", metric)
    try:
        bound = float(match["bound"])
    except ValueError:
        raise ConfigError(field, "a number after the operator", text) from None
    if not math.isfinite(bound):
        raise ConfigError(field, "a finite bound", text)
    if metric == "accuracy":
        if op != ">=" or not 0 < bound <= 1:
            raise ConfigError(field, "'accuracy >= a' with a fraction 0 < a <= 1", text)
    elif metric == "error":
        if op != "<=" or not 0 <= bound < 1:
            raise ConfigError(field, "'error <= e' with a fraction 0 <= e < 1", text)
    elif op != "<=" or bound <= 0:
        raise ConfigError(field, f"'{metric} <= <positive number>' (a ceiling)", text)
    if match["device"] and metric != "latency_ms":
        raise ConfigError(field, "'on <device>' only after a latency_ms budget", text)
    return Budget(metric, op, bound, match["device"])


def parse_objectives(names: list[str], field: str = "objectives") -> tuple[str, ...]:
    """Validate objective names (at least one, no repeats)."""
    if not names:
        raise ConfigError(field, f"at least one of {', '.join(OBJECTIVES)}", names)
    for name in names:
        if name not in OBJECTIVES:
            hint = " (use 'error', which is minimised)" if name == "accuracy" else ""
            raise ConfigError(field, f"names among {', '.join(OBJECTIVES)}{hint}", name)
    if len(set(names)) != len(names):
        raise ConfigError(field, "distinct objective names", names)
    return tuple(names)


def metric_value(metrics: dict[str, float], name: str) -> float:
    """The value of ``name`` from a metrics dict (``error`` derives from ``accuracy``)."""
    if name == "error" and "error" not in metrics:
        return 1.0 - float(metrics["accuracy"])
    if name == "accuracy" and "accuracy" not in metrics:
        return 1.0 - float(metrics["error"])
    return float(metrics[name])


def objective_vector(metrics: dict[str, float], objectives: tuple[str, ...]) -> np.ndarray:
    """The objectives (minimised) of one candidate."""
    return np.array([metric_value(metrics, o) for o in objectives], dtype=float)


def constraint_vector(metrics: dict[str, float], budgets: tuple[Budget, ...]) -> np.ndarray:
    """The constraint values (<= 0 means met) of one candidate."""
    return np.array([b.violation(metric_value(metrics, b.metric)) for b in budgets], dtype=float)
