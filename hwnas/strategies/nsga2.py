"""NSGA-II through pymoo's ask/tell interface, with operators for categorical encodings.

Architectures are encoded as integer vectors (``space.encode``); sampling draws from the
space, crossover is uniform (each gene from one parent, so always valid), mutation
resamples genes through ``space.mutate`` (so the child always differs from its parent), and
duplicates are recognised on the canonical encoding (genes without effect, such as the
slots beyond a stage's depth in ``mbconv``, do not make two architectures different).
Constraints are pymoo's (``G <= 0``): feasible candidates first, then by violation. A
skipped candidate is told to pymoo with its unknown values at their worst, and a failed one
as infeasible beyond any budget (:func:`~hwnas.strategies.base.worst_case`).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field

from hwnas.spaces.base import Arch, SearchSpace
from hwnas.strategies.base import (
    Status,
    Strategy,
    checked_options,
    register_strategy,
    worst_case,
)


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


@register_strategy("nsga2")
class NSGA2Search(Strategy):
    """pymoo's NSGA-II, one generation per ``ask``/``tell`` cycle.

    Args:
        population: Population size (also the size of the first generation).
        offspring: Offspring per generation (default: ``population``).
        crossover_prob: Probability that a mating uses uniform crossover.
        mutation_prob: Probability that an offspring is mutated.
    """

    name = "nsga2"

    @checked_options
    def __init__(
        self,
        population: Annotated[int, Field(ge=2)] = 20,
        offspring: Annotated[int, Field(ge=1)] | None = None,
        crossover_prob: Annotated[float, Field(ge=0, le=1)] = 0.9,
        mutation_prob: Annotated[float, Field(ge=0, le=1)] = 1.0,
    ) -> None:
        self.population = population
        self.offspring = offspring
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob

    def _setup(self) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.problem import Problem as PymooProblem
        from pymoo.operators.crossover.ux import UniformCrossover

        space = self.problem.space
        sampling, mutation, duplicates = _pymoo_parts(space)
        mutation.prob.value = self.mutation_prob
        self._algorithm = NSGA2(
            pop_size=self.population,
            n_offsprings=self.offspring or self.population,
            sampling=sampling,
            crossover=UniformCrossover(prob=self.crossover_prob),
            mutation=mutation,
            eliminate_duplicates=duplicates,
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
        self.generations = 0

    def ask(self, n: int) -> list[Arch]:
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
