"""NSGA-II through pymoo's ask/tell interface, with operators for categorical encodings.

Architectures are encoded as integer vectors (``space.encode``); sampling draws from the
space, crossover is uniform (each gene from one parent, so always valid), mutation
resamples genes through ``space.mutate`` (so the child always differs from its parent), and
duplicates are recognised on the canonical encoding (genes without effect, such as the
slots beyond a stage's depth in ``mbconv``, do not make two architectures different).
Constraints are pymoo's (``G <= 0``): feasible candidates first, then by violation. A
skipped candidate is told to pymoo with its unknown values at their worst, and a failed one
as infeasible beyond any budget (:func:`~hwnas.strategies.base.worst_case`).

With ``predictor="gp"`` the accuracy predictor is in the loop (as DyNAS-T's LINAS): after
an initial population evaluated for real, each ``ask`` fits a Gaussian process
(:class:`~hwnas.strategies.surrogate.gp.CategoricalGP` on ``space.surrogate_encode``) to the
evaluated candidates, runs ``inner_generations`` of NSGA-II (pymoo, same operators) on the
predicted unknown objectives (error) and the cheap ones (``problem.cheap``: predicted
latency, MACs, parameters, and the cheap budgets as constraints; budgets that need an
evaluation count as met), and returns the best unasked candidates that the inner search
saw, by non-dominated rank and crowding, among those that meet the cheap budgets. Real
evaluations are spent only there. That mode keeps no pymoo state between asks, so it has a
:meth:`~NSGA2Search.state_dict`; plain NSGA-II has none: pymoo persists an algorithm only
by pickling it, rebuilding its population with the survival's rank and crowding attributes
would tie hwnas to pymoo internals, and its replay costs milliseconds per generation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from hwnas.spaces.base import Arch, SearchSpace
from hwnas.strategies.base import (
    Status,
    Strategy,
    Told,
    checked_options,
    register_strategy,
    state_field,
    worst_case,
)
from hwnas.strategies.surrogate.candidates import Candidates, within_budgets
from hwnas.strategies.surrogate.gp import CategoricalGP
from hwnas.strategies.surrogate.strategy import load_models


def _pymoo_parts(space: SearchSpace) -> tuple[Any, Any, Any]:
    from pymoo.core.duplicate import ElementwiseDuplicateElimination
    from pymoo.core.mutation import Mutation
    from pymoo.core.sampling import Sampling

    def canonical(x: np.ndarray) -> tuple[int, ...]:
        return space.encode(space.decode([int(v) for v in x]))

    class SpaceSampling(Sampling):  # type: ignore[misc]
        def _do(
            self, problem: Any, n_samples: int, *args: Any, random_state: Any = None, **kwargs: Any
        ) -> np.ndarray:
            return np.array(
                [space.encode(space.sample(random_state)) for _ in range(n_samples)], dtype=int
            )

    class SpaceMutation(Mutation):  # type: ignore[misc]
        def _do(
            self, problem: Any, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any
        ) -> np.ndarray:
            out = np.array(X, dtype=int, copy=True)
            for i, x in enumerate(out):
                parent = space.decode([int(v) for v in x])
                out[i] = space.encode(space.mutate(parent, random_state))
            return out

    class CanonicalDuplicates(ElementwiseDuplicateElimination):  # type: ignore[misc]
        def is_equal(self, a: Any, b: Any) -> bool:
            return canonical(a.X) == canonical(b.X)

    return SpaceSampling(), SpaceMutation(), CanonicalDuplicates()


def _hashed_duplicates(space: SearchSpace) -> Any:
    """Duplicates by a set of canonical encodings: linear where pymoo's element-wise
    comparison is quadratic (the inner searches of ``predictor="gp"`` run thousands of
    generations); the same relation, so the same eliminations."""
    from pymoo.core.duplicate import DuplicateElimination

    def canonical(x: np.ndarray) -> tuple[int, ...]:
        return space.encode(space.decode([int(v) for v in x]))

    class HashedDuplicates(DuplicateElimination):  # type: ignore[misc]
        def _do(self, pop: Any, other: Any, is_duplicate: np.ndarray) -> np.ndarray:
            known = {canonical(o.X) for o in other} if other is not None else set()
            for i, individual in enumerate(pop):
                key = canonical(individual.X)
                is_duplicate[i] = key in known
                known.add(key)
            return is_duplicate

    return HashedDuplicates()


@register_strategy("nsga2")
class NSGA2Search(Strategy):
    """pymoo's NSGA-II, one generation per ``ask``/``tell`` cycle.

    Args:
        population: Population size (also the size of the first generation).
        offspring: Offspring per generation (default: ``population``).
        crossover_prob: Probability that a mating uses uniform crossover.
        mutation_prob: Probability that an offspring is mutated.
        predictor: ``"none"`` (plain NSGA-II) or ``"gp"``: an accuracy predictor in the loop
            (see the module docstring); the first ``population`` candidates are random.
        inner_generations: Generations of the inner, predicted search per ask (``gp``).
        inner_population: Population of the inner search (``gp``).
    """

    name = "nsga2"

    @checked_options
    def __init__(
        self,
        population: Annotated[int, Field(ge=2)] = 20,
        offspring: Annotated[int, Field(ge=1)] | None = None,
        crossover_prob: Annotated[float, Field(ge=0, le=1)] = 0.9,
        mutation_prob: Annotated[float, Field(ge=0, le=1)] = 1.0,
        predictor: Literal["none", "gp"] = "none",
        inner_generations: Annotated[int, Field(ge=1)] = 20,
        inner_population: Annotated[int, Field(ge=4)] = 100,
    ) -> None:
        self.population = population
        self.offspring = offspring
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
        self.predictor = predictor
        self.inner_generations = inner_generations
        self.inner_population = inner_population

    def _setup(self) -> None:
        self._assisted = _Assisted(self) if self.predictor != "none" else None
        self.generations = 0
        if self._assisted is None:
            self._setup_pymoo()

    def _operators(self) -> dict[str, Any]:
        from pymoo.operators.crossover.ux import UniformCrossover

        sampling, mutation, duplicates = _pymoo_parts(self.problem.space)
        mutation.prob.value = self.mutation_prob
        return {
            "sampling": sampling,
            "crossover": UniformCrossover(prob=self.crossover_prob),
            "mutation": mutation,
            "eliminate_duplicates": duplicates,
        }

    def _setup_pymoo(self) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.problem import Problem as PymooProblem

        space = self.problem.space
        self._algorithm = NSGA2(
            pop_size=self.population,
            n_offsprings=self.offspring or self.population,
            **self._operators(),
        )
        n_choices = np.array(space.n_choices)
        self._pymoo_problem = PymooProblem(
            n_var=space.n_dims,
            n_obj=self.problem.n_objectives,
            n_ieq_constr=self.problem.n_constraints + 1,  # + 1: failed evaluations
            xl=np.zeros(space.n_dims),
            xu=n_choices - 1,
            vtype=int,
        )
        self._algorithm.setup(self._pymoo_problem, termination=("n_gen", 10**9), seed=self.seed)
        self._generation: Any = None
        self._archs: list[Arch] = []
        self._handed_out = 0
        self._F: dict[int, np.ndarray] = {}
        self._G: dict[int, np.ndarray] = {}

    def ask(self, n: int) -> list[Arch]:
        if self._assisted is not None:
            return self._assisted.ask(n)
        if self._generation is None:
            self._generation = self._algorithm.ask()
            space = self.problem.space
            self._archs = [space.decode([int(v) for v in x]) for x in self._generation.get("X")]
            self._handed_out = 0
        batch = self._archs[self._handed_out : self._handed_out + n]
        self._handed_out += len(batch)
        return batch

    def _tell(
        self, archs: list[Arch], F: np.ndarray, G: np.ndarray, status: tuple[Status, ...]
    ) -> None:
        if self._assisted is not None:
            self._assisted.tell(archs, F, G, status)
            return
        if self._generation is None:
            return
        # pymoo needs a value for every objective and constraint: a skipped candidate
        # counts at its worst (error 1, accuracy 0); a failed one also breaks the extra
        # constraint column (inf), so it loses every comparison.
        F, G = worst_case(self.problem, F, G, status)
        pending = {i for i in range(len(self._archs)) if i not in self._F}
        for arch, f, g in zip(archs, F, G, strict=True):
            for i in sorted(pending):
                if self._archs[i] == arch:
                    self._F[i], self._G[i] = f, g
                    pending.discard(i)
                    break
        if pending:
            return
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        order = range(len(self._archs))
        values = {
            "F": np.array([self._F[i] for i in order]),
            "G": np.array([self._G[i] for i in order]),
        }
        # pymoo's documented ask/tell pattern: a static problem hands over the values we
        # measured, and pymoo derives the constraint violation (CV) and feasibility itself.
        Evaluator().eval(StaticProblem(self._pymoo_problem, **values), self._generation)
        self._algorithm.tell(infills=self._generation)
        self._generation = None
        self._F.clear()
        self._G.clear()
        self.generations += 1

    def state(self) -> dict[str, Any]:
        return {"generations": self.generations}

    def state_dict(self) -> dict[str, Any] | None:
        return None if self._assisted is None else self._assisted.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._assisted is None:
            super().load_state_dict(state)  # plain NSGA-II keeps none: refused
            return
        self._assisted.load_state_dict(state)


class _Assisted:
    """The ``predictor="gp"`` mode of :class:`NSGA2Search` (state and asks)."""

    def __init__(self, strategy: NSGA2Search) -> None:
        self.strategy = strategy
        problem = strategy.problem
        # Candidates caches the cheap values and the surrogate encodings, and keeps ``asked``.
        self.candidates = Candidates(problem, strategy.rng, problem.space.surrogate_encode, 0, 0, 0)
        self.told: dict[Arch, Told] = {}
        self.queue: list[Arch] = []
        self.models: dict[int, CategoricalGP] = {}

    def ask(self, n: int) -> list[Arch]:
        out: list[Arch] = []
        if not self.told and not self.candidates.asked and not self.queue:
            self.queue = self._random(self.strategy.population)
        while self.queue and len(out) < n:
            out.append(self.queue.pop(0))
        if len(out) < n and not self.queue:
            out += self._predicted(n - len(out))
        for arch in out:
            self.candidates.mark_asked(arch)
        return out

    def tell(
        self, archs: list[Arch], F: np.ndarray, G: np.ndarray, status: tuple[Status, ...]
    ) -> None:
        for arch, f, g, s in zip(archs, F, G, status, strict=True):
            self.told[arch] = (f, g, s)
            self.candidates.mark_asked(arch)

    def _random(self, k: int, exclude: Any = ()) -> list[Arch]:
        space, rng, asked = self.strategy.problem.space, self.strategy.rng, self.candidates.asked
        out: list[Arch] = []
        for _ in range(100 * k):
            if len(out) == k:
                break
            arch = space.sample(rng)
            if arch not in asked and arch not in out and arch not in exclude:
                out.append(arch)
        return out

    def _predicted(self, k: int) -> list[Arch]:
        """The best ``k`` unasked candidates of an inner NSGA-II on predicted values."""
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.problem import Problem as PymooProblem
        from pymoo.optimize import minimize

        strategy, candidates = self.strategy, self.candidates
        problem, space = strategy.problem, strategy.problem.space
        evaluated = [(a, f) for a, (f, _, s) in self.told.items() if s is Status.EVALUATED]
        if len(evaluated) < 3:  # too little for a model
            return self._random(k)
        archs = [a for a, _ in evaluated]
        values = np.array([f for _, f in evaluated])
        cheap_F, _ = candidates.cheap_values(archs)
        unknown = [j for j in range(problem.n_objectives) if np.isnan(cheap_F[:, j]).any()]
        logs = self._fit(archs, values, unknown)
        seen: dict[Arch, np.ndarray] = {}

        def predicted(batch: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
            F, G = candidates.cheap_values(batch)
            codes = candidates.model_codes(batch)
            for j, log in zip(unknown, logs, strict=True):
                mean, _ = self.models[j].predict(codes)
                F[:, j] = np.exp(mean) if log else mean
            return F, np.where(np.isnan(G), 0.0, G)  # unknown budgets count as met

        class Inner(PymooProblem):  # type: ignore[misc]
            def _evaluate(self, X: np.ndarray, out: dict[str, Any], *a: Any, **kw: Any) -> None:
                batch = [space.decode([int(v) for v in x]) for x in X]
                out["F"], G = predicted(batch)
                if problem.n_constraints:
                    out["G"] = G
                for arch, f in zip(batch, out["F"], strict=True):
                    seen.setdefault(arch, f)

        inner = Inner(
            n_var=space.n_dims,
            n_obj=problem.n_objectives,
            n_ieq_constr=problem.n_constraints,
            xl=np.zeros(space.n_dims),
            xu=np.array(space.n_choices) - 1,
            vtype=int,
        )
        # Start from the best evaluated candidates (half the population), topped up at random.
        best = [archs[i] for i in _ranked(values, strategy.inner_population // 2, strategy.rng)]
        start = best + self._random(strategy.inner_population - len(best), exclude=best)
        operators = strategy._operators()
        operators["sampling"] = np.array([space.encode(a) for a in start], dtype=int)
        operators["eliminate_duplicates"] = _hashed_duplicates(space)
        algorithm = NSGA2(pop_size=strategy.inner_population, **operators)
        seed = int(strategy.rng.integers(2**31 - 1))
        minimize(inner, algorithm, ("n_gen", strategy.inner_generations), seed=seed)
        pool = within_budgets(candidates.make_pool([a for a in seen if a not in candidates.asked]))
        if not pool.archs:
            return self._random(k)
        F, _ = predicted(pool.archs)
        picks = [pool.archs[i] for i in _ranked(F, k, strategy.rng)]
        return picks + self._random(k - len(picks), exclude=picks)

    def _fit(self, archs: list[Arch], values: np.ndarray, unknown: list[int]) -> list[bool]:
        codes = self.candidates.model_codes(archs)
        logs = []
        for j in unknown:
            y = values[:, j]
            log = bool(np.all(y > 0))  # error: modelled on a log scale, as surrogate-ehvi
            model = self.models.get(j) or CategoricalGP(self.strategy.problem.space.n_choices)
            self.models[j] = model.fit(codes, np.log(y) if log else y)
            logs.append(log)
        return logs

    def state_dict(self) -> dict[str, Any]:
        strategy = self.strategy
        return {
            **strategy._told_to_state(self.told),
            "rng": strategy._rng_state(),
            "asked": sorted(strategy._archs_to_state(self.candidates.asked)),
            "queue": strategy._archs_to_state(self.queue),
            "models": [[j, model.state_dict()] for j, model in self.models.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        strategy = self.strategy
        told = strategy._told_from_state(state)
        asked = strategy._archs_from_state(state, "asked")
        queue = strategy._archs_from_state(state, "queue")
        state_field(strategy.name, state, "models", list)
        models = load_models(strategy.name, state, strategy.problem.space.n_choices)
        strategy._load_rng_state(state.get("rng"))
        self.told, self.queue, self.models = told, queue, models
        for arch in asked:
            self.candidates.mark_asked(arch)


def _ranked(F: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
    """The rows of the ``n`` best of ``F`` (minimised) by non-dominated rank, then crowding
    distance (pymoo's NSGA-II survival), best first."""
    from pymoo.core.population import Population
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.operators.survival.rank_and_crowding import RankAndCrowding

    n = min(n, len(F))
    if n == 0:
        return []
    population = Population.new(X=np.arange(len(F))[:, None], F=np.asarray(F, dtype=float))
    survivors = RankAndCrowding().do(
        PymooProblem(n_var=1, n_obj=F.shape[1]), population, n_survive=n, random_state=rng
    )
    ranks = survivors.get("rank")
    crowding = survivors.get("crowding")
    order = np.lexsort((-crowding, ranks))  # survivors come front by front, not sorted
    return [int(survivors[i].X[0]) for i in order]
