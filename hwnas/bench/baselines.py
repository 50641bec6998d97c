"""Baselines that run outside the search loop (``optuna-nsga2``), by name.

They see the true table values (as the table README's reference numbers do), so they need
no latency predictor; :func:`~hwnas.bench.run_bench` scores them like hwnas strategies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hwnas.errors import ConfigError, HwnasError
from hwnas.spaces.base import SearchSpace

if TYPE_CHECKING:
    from hwnas.bench.scoring import Truth

__all__ = ["EXTERNAL_BASELINES", "ExternalBaseline"]


class ExternalBaseline(ABC):
    """A baseline that runs outside the search loop."""

    #: The name it is listed under in ``strategies``.
    name = ""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`HwnasError` when the baseline cannot run here."""

    @abstractmethod
    def run(
        self, space: SearchSpace, truth: Truth, seed: int, n: int, options: Mapping[str, Any]
    ) -> list[str]:
        """One search of at most ``n`` accuracy queries; the queried architectures in order.

        Args:
            space: The search space of the table's architectures.
            truth: The true objectives of the device column (and its table).
            seed: The seed of the search.
            n: The most distinct architectures it may query.
            options: Its ``strategy_options`` entry.
        """


class _OptunaNSGA2(ExternalBaseline):
    """Optuna's NSGA-II sampler: one categorical parameter per gene, objectives error and
    TRUE latency (as the table README's reference numbers). Repeated architectures are
    answered again without counting as a query (a real system would cache them).

    Options (``strategy_options: {optuna-nsga2: {...}}``): ``NSGAIISampler`` arguments and
    ``max_trials`` (trials allowed, repeats included; default 20 x the queries). The
    population defaults to 20, which reproduces the reference numbers of the table's README
    (0.4-0.7 % regret at 300 queries) better than Optuna's default of 50 (1-2 %), i.e. the
    stronger baseline.
    """

    name = "optuna-nsga2"
    population_size = 20

    def check(self) -> None:
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise HwnasError(
                "strategy optuna-nsga2 needs Optuna: pip install 'hwnas[bench]' (or optuna)"
            ) from None

    def run(
        self, space: SearchSpace, truth: Truth, seed: int, n: int, options: Mapping[str, Any]
    ) -> list[str]:
        import optuna

        kwargs = dict(options)
        kwargs.setdefault("population_size", self.population_size)
        max_trials = int(kwargs.pop("max_trials", 20 * n))
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            sampler = optuna.samplers.NSGAIISampler(seed=seed, **kwargs)
        except TypeError as error:
            raise ConfigError(
                f"strategy_options.{self.name}", "NSGAIISampler options", str(error)
            ) from None
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
        queried: list[str] = []
        seen: set[str] = set()
        for _ in range(max_trials):
            if len(queried) >= n:
                break
            trial = study.ask()
            code = [
                trial.suggest_categorical(f"g{i}", list(range(int(c))))
                for i, c in enumerate(space.n_choices)
            ]
            arch = str(space.decode(code))
            row = truth.table.row_of(arch)
            if arch not in seen:
                seen.add(arch)
                queried.append(arch)
            study.tell(trial, [float(truth.error[row]), float(truth.latency[row])])
        return queried


#: Baselines outside the search loop, by name.
EXTERNAL_BASELINES: dict[str, ExternalBaseline] = {"optuna-nsga2": _OptunaNSGA2()}
