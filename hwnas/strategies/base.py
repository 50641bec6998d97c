"""The strategy interface: ``ask(n)`` for architectures, ``tell`` what became of them.

Every search strategy (NSGA-II, regularized evolution, random, RL, differentiable)
implements this one small interface and runs in the one loop of :mod:`hwnas.search`.
Objectives are minimised; constraints follow pymoo (``g <= 0`` is feasible). ``tell``
hands over, per architecture, a :class:`Status` next to its objective and constraint values:
a candidate that failed or was skipped is a status, never a sentinel value (as Optuna's
``after_trial(study, trial, state, values)``). A strategy is deterministic given its seed
and what it is told, which is what lets a resumed search replay its history from the run
store and continue exactly where it stopped. A strategy whose replay is slow (a model fitted
on every ask) also implements :meth:`Strategy.state_dict` / :meth:`Strategy.load_state_dict`:
a plain-JSON snapshot (never pickle: a run folder may come from someone else) that the run
store keeps after each step, so that a resume loads it instead of replaying.

A new strategy is one module: a :class:`Strategy` subclass with explicit keyword arguments,
``ask`` and ``_tell``, decorated with ``@register_strategy("name")`` and imported by
:mod:`hwnas.strategies`.
"""

from __future__ import annotations

import abc
import enum
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import ConfigDict, ValidationError, validate_call

from hwnas.errors import ArchError, ConfigError, HwnasError
from hwnas.objectives import Budget
from hwnas.registry import Registry
from hwnas.spaces.base import Arch, SearchSpace

STRATEGIES: Registry[Strategy] = Registry("strategy")
#: What a strategy was told of one architecture: objectives, constraints, status.
Told = tuple[np.ndarray, np.ndarray, "Status"]
_Init = TypeVar("_Init", bound=Callable[..., None])


class Status(enum.Enum):
    """What became of an asked architecture; the values are the run store's statuses."""

    #: Evaluated: every objective and constraint value is known.
    EVALUATED = "done"
    #: The evaluation failed (after its retries): only the cheap values are known.
    FAILED = "failed"
    #: Not evaluated because its cheap values already break a budget (only those known).
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Problem:
    """What a strategy searches: a space, minimised objectives and budgets.

    Attributes:
        space: The search space.
        objectives: Objective names (all minimised).
        budgets: The budgets; budget ``i`` is constraint column ``i`` (``g <= 0`` feasible).
        cheap: A function giving, for a list of architectures, their cheap objective and
            constraint values without an accuracy evaluation (``nan`` where a value needs
            one), so that strategies can screen candidates; may be ``None``.
        context: What the run holds beyond the space, for strategies that need more than
            ask/tell (a differentiable strategy trains on ``context["dataset"]``); keys are
            documented by the strategies that read them, and absent keys are absent.
    """

    space: SearchSpace
    objectives: tuple[str, ...]
    budgets: tuple[Budget, ...] = ()
    cheap: Callable[[Sequence[Arch]], tuple[np.ndarray, np.ndarray]] | None = None
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_objectives(self) -> int:
        """The number of objectives."""
        return len(self.objectives)

    @property
    def n_constraints(self) -> int:
        """The number of constraints (one per budget)."""
        return len(self.budgets)


class Strategy(abc.ABC):
    """A search strategy. Subclasses take explicit keyword arguments and store them, and
    implement :meth:`ask` and :meth:`_tell` (and optionally :meth:`_setup`)."""

    name: ClassVar[str]

    @property
    def options(self) -> dict[str, Any]:
        """The options this strategy was built with, defaults included (JSON-able; recorded
        by :func:`checked_options`): a stored state is loaded only into the same options."""
        return dict(getattr(self, "_options", {}))

    def setup(self, problem: Problem, seed: int) -> None:
        """Prepare to search ``problem``; ``seed`` fixes every random choice."""
        self.problem = problem
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self._setup()

    def _setup(self) -> None:
        """Hook for subclasses: build state after :meth:`setup` stored the problem."""
        return None

    @abc.abstractmethod
    def ask(self, n: int) -> list[Arch]:
        """Propose ``n`` architectures to evaluate next (fewer only when the space is spent)."""

    def tell(
        self,
        archs: Sequence[Arch],
        F: np.ndarray,
        G: np.ndarray,
        status: Sequence[Status],
    ) -> None:
        """Report what became of ``archs``.

        Args:
            archs: Architectures this strategy asked for.
            F: Objective values (n x objectives).
            G: Constraint values (n x budgets, ``g <= 0`` feasible).
            status: One :class:`Status` per architecture. Rows that are not ``EVALUATED``
                hold the values known without an evaluation (the cheap ones) and ``nan``
                for the others.
        """
        n = len(archs)
        F = np.asarray(F, dtype=float).reshape(n, self.problem.n_objectives)
        G = np.asarray(G, dtype=float).reshape(n, self.problem.n_constraints)
        status = tuple(Status(s) for s in status)
        if len(status) != n:
            raise ValueError(f"tell: {n} architectures but {len(status)} statuses")
        self._tell(list(archs), F, G, status)

    @abc.abstractmethod
    def _tell(
        self, archs: list[Arch], F: np.ndarray, G: np.ndarray, status: tuple[Status, ...]
    ) -> None:
        """Hook for subclasses: :meth:`tell` with checked shapes and statuses."""

    def state(self) -> dict[str, Any]:
        """JSON-able summary for logs (generation counters and the like)."""
        return {}

    # -- save and restore -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any] | None:
        """Everything needed to go on from here, as plain JSON (lists, numbers, strings,
        ``None``; the random generator's state included), or ``None`` (the default): the
        strategy is resumed by replaying the stored history instead.
        """
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; called after :meth:`setup`.

        Raises:
            HwnasError: ``state`` is not a state of this strategy (a field missing or of the
                wrong kind), or the strategy keeps none.
        """
        raise HwnasError(f"strategy {self.name} keeps no state_dict; it resumes by replay")

    def _rng_state(self) -> dict[str, Any]:
        """The random generator's state (JSON-able: numpy gives plain ints and strings)."""
        return dict(self.rng.bit_generator.state)

    def _load_rng_state(self, state: Any) -> None:
        """Set the generator's state in place (parts built in ``_setup`` share it)."""
        try:
            self.rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as error:
            raise StateError(
                self.name, "rng", f"a {type(self.rng.bit_generator).__name__} state ({error})"
            ) from None

    def _told_to_state(self, told: Mapping[Arch, Told]) -> dict[str, Any]:
        """What a strategy was told, per architecture, as plain JSON."""
        items = list(told.items())
        return {
            "told": self._archs_to_state([a for a, _ in items]),
            "F": floats_to_state([f for _, (f, _, _) in items]),
            "G": floats_to_state([g for _, (_, g, _) in items]),
            "status": [s.value for _, (_, _, s) in items],
        }

    def _told_from_state(self, state: dict[str, Any]) -> dict[Arch, Told]:
        """The inverse of :meth:`_told_to_state`, checked against this problem."""
        name, problem = self.name, self.problem
        archs = self._archs_from_state(state, "told")
        n = len(archs)
        F = floats_from_state(name, "F", state.get("F"), (n, problem.n_objectives))
        G = floats_from_state(name, "G", state.get("G"), (n, problem.n_constraints))
        try:
            status = [Status(v) for v in state_field(name, state, "status", list)]
        except ValueError:
            raise StateError(name, "status", "statuses (done, failed, skipped)") from None
        if len(status) != n:
            raise StateError(name, "status", f"{n} statuses")
        return {a: (f, g, s) for a, f, g, s in zip(archs, F, G, status, strict=True)}

    def _archs_to_state(self, archs: Iterable[Arch]) -> list[str]:
        return [str(arch) for arch in archs]

    def _archs_from_state(self, state: dict[str, Any], key: str) -> list[Arch]:
        """The architectures stored under ``key`` (their canonical strings)."""
        texts = state_field(self.name, state, key, list)
        try:
            return [self.problem.space.parse(text) for text in texts]
        except (ArchError, TypeError, ValueError) as error:
            raise StateError(self.name, key, f"architectures of this space ({error})") from None


class StateError(HwnasError):
    """A stored strategy state that does not fit the strategy (corrupt or foreign).

    Args:
        strategy: The strategy's name.
        key: The field of the state.
        expected: What the field should hold.
    """

    def __init__(self, strategy: str, key: str, expected: str) -> None:
        super().__init__(f"strategy {strategy} state: {key!r} should be {expected}")


def state_field(strategy: str, state: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    """``state[key]``, checked to be of ``kind``; a :class:`StateError` otherwise."""
    if not isinstance(state, dict) or key not in state:
        raise StateError(strategy, key, "present")
    value = state[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        raise StateError(strategy, key, f"of type {getattr(kind, '__name__', kind)}")
    return value


def floats_to_state(values: Any) -> Any:
    """An array as nested lists for strict JSON, which has no NaN or infinity: ``nan`` (an
    unknown value) becomes ``None``, an infinity the string ``"inf"`` or ``"-inf"``."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        value = float(array)
        return None if np.isnan(value) else value if np.isfinite(value) else str(value)
    return [floats_to_state(row) for row in array]


def floats_from_state(strategy: str, key: str, values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`floats_to_state`, checked to be of ``shape``."""
    try:
        array = np.array(values, dtype=object)
        array = np.where(array == None, np.nan, array).astype(float)  # noqa: E711
    except (TypeError, ValueError):
        raise StateError(strategy, key, f"numbers of shape {shape}") from None
    if array.size == 0 and 0 in shape:  # no rows: nothing to tell the columns from
        array = array.reshape(shape)
    if array.shape != shape:
        raise StateError(strategy, key, f"numbers of shape {shape} (got {array.shape})")
    return array


def worst_case(
    problem: Problem, F: np.ndarray, G: np.ndarray, status: Sequence[Status]
) -> tuple[np.ndarray, np.ndarray]:
    """Every value known, for algorithms that need them all (pymoo, tournaments).

    A skipped or failed candidate's unknown values are set to their worst (accuracy 0,
    error 1: the bounds of the metrics, not a tuned penalty), so that a skipped candidate
    is infeasible under any accuracy budget and the worst in error. One constraint column
    is appended, ``inf`` (violated beyond any budget) for a failed candidate and 0 otherwise:
    a failure is no measurement, so it loses to every candidate that has one.

    Returns:
        ``F`` (n x objectives) and ``G`` (n x (budgets + 1)).

    Raises:
        ValueError: An unknown value of a metric without such a bound (a cheap metric,
            which the search loop always knows).
    """
    F, G = np.array(F, dtype=float), np.array(G, dtype=float)
    for i, s in enumerate(status):
        if s is Status.EVALUATED:
            continue
        for j, name in enumerate(problem.objectives):
            if np.isnan(F[i, j]):
                F[i, j] = _worst(name)
        for j, budget in enumerate(problem.budgets):
            if np.isnan(G[i, j]):
                G[i, j] = budget.violation(_worst(budget.metric))
    failed = np.array([np.inf if s is Status.FAILED else 0.0 for s in status])
    return F, np.c_[G.reshape(len(F), -1), failed]


#: The worst value of each metric that needs an evaluation.
_WORST = {"error": 1.0, "accuracy": 0.0}


def _worst(metric: str) -> float:
    if metric not in _WORST:
        raise ValueError(f"{metric} is unknown for a candidate that was not evaluated")
    return _WORST[metric]


def checked_options(init: _Init) -> _Init:
    """Decorator for a strategy's ``__init__``: checks its arguments against their annotated
    types and constraints (pydantic, strict: ``2.0`` is no integer, ``1`` no boolean), so
    that constraints are declared next to the parameters. The checked options, defaults
    included, are recorded for :attr:`Strategy.options`.

    Raises:
        ConfigError: A bad value, named ``strategy.<option>``.
        TypeError: An unknown option (as a plain ``__init__`` would).
    """
    checked = validate_call(config=ConfigDict(strict=True))(init)
    signature = inspect.signature(init)
    names = list(signature.parameters)

    @functools.wraps(init)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            checked(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            options = dict(bound.arguments)
            args[0]._options = {k: v for k, v in options.items() if k != names[0]}
        except ValidationError as error:
            first = error.errors()[0]
            where = first["loc"][0] if first["loc"] else "?"
            name = names[where] if isinstance(where, int) and where < len(names) else str(where)
            if first["type"] == "unexpected_keyword_argument":
                raise TypeError(f"unexpected keyword argument {name!r}") from None
            expected = first["msg"].removeprefix("Input should be ")
            raise ConfigError(f"strategy.{name}", expected, first.get("input")) from None

    return wrapper  # type: ignore[return-value]


def register_strategy(name: str) -> Callable[[Callable[..., Any]], Any]:
    """Class decorator registering a :class:`Strategy` under ``name``."""
    return STRATEGIES.register(name)


def create_strategy(name: str, **kwargs: Any) -> Strategy:
    """The strategy registered as ``name``, built with ``kwargs``."""
    return STRATEGIES.create(name, **kwargs)


def list_strategies() -> list[str]:
    """The names of the registered strategies."""
    return STRATEGIES.names()
