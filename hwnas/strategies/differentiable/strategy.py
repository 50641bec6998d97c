"""``differentiable``: a gradient-based search (GDAS / FBNet / TF-NAS) under a hard ceiling.

The first :meth:`~DifferentiableSearch.ask` does the work. It fits the differentiable
latency term (:mod:`.latency`) to the run's predictor, takes the run's supernet (or trains
one briefly), and for each latency target of a sweep (``targets`` spread up to the
ceiling, the ceiling first) learns the choice logits by alternating updates (:mod:`.relax`)
from the same starting weights. The most likely architecture of each target is then
checked with the full predictor and, when it breaks the target or any cheap budget,
repaired (:mod:`.repair`); a target that cannot be met derives nothing. Those
architectures are asked in turn, and an empty ask ends the search. So one run traces a
front, and nothing asked breaks the latency ceiling.

It reads ``Problem.context``: ``dataset`` (the run's :class:`~hwnas.data.Dataset`) and
``supernet`` (optional: a trained supernet of the space, its folder or a
:class:`~hwnas.nn.supernet.TrainedSupernet`; copied, never changed).

Without a dataset (``hwnas bench`` on a table, where accuracies come from a lookup and
there are no weights to share), ``relaxation: model`` (what ``auto`` picks there) relaxes
against a learned error model instead of the supernet (:mod:`.model`): after ``initial``
random architectures, every ask fits the model on the evaluated ones and relaxes once per
requested architecture, each for a latency target drawn across the range (stratified in
log space), so the asks spread along the front; a derived architecture that was asked
before is replaced by a draw from the learned distribution (repaired likewise).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from hwnas.errors import ConfigError
from hwnas.spaces.base import Arch
from hwnas.strategies.base import Status, Strategy, checked_options, register_strategy
from hwnas.strategies.differentiable.latency import LinearLatency, fit_linear_latency
from hwnas.strategies.differentiable.repair import Encoding, repair

PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]


@register_strategy("differentiable")
class DifferentiableSearch(Strategy):
    """Gumbel-softmax relaxation over the supernet with an expected-latency term.

    Args:
        targets: Latency targets of the sweep, spread evenly between the smallest
            architecture's latency and the ceiling (the tightest ``latency_ms <=`` budget,
            or without one the largest architecture's latency); the top one is the ceiling.
        epochs: Most epochs of alternating updates per target (fewer when the most likely
            architecture settles: see ``patience``).
        patience: Stop a target's updates once its most likely architecture has stayed
            the same for this many epochs (the collapse guard).
        warmup_epochs: Sandwich-training epochs of a new supernet when the run has none.
        batch_size: Images per step (training and validation batches alike).
        lr: Learning rate of the supernet's weights (SGD, Nesterov momentum).
        arch_lr: Learning rate of the choice logits (Adam).
        latency_weight: Weight of ``|E[latency] / target - 1|`` in the logits' loss.
        tau_max: Gumbel-softmax temperature at the first epoch.
        tau_min: Temperature at the last epoch (geometric decay in between).
        latency_samples: Random architectures the latency term is fitted on (a fifth is
            held out to report its fit).
        threads: Torch CPU threads while training.
        relaxation: ``supernet`` (the run's supernet), ``model`` (a learned error model,
            for runs without a dataset) or ``auto`` (``supernet`` when the run has a
            dataset).
        initial: ``model`` only: random architectures evaluated before the first model.
    """

    name = "differentiable"

    @checked_options
    def __init__(
        self,
        targets: PositiveInt = 3,
        epochs: PositiveInt = 6,
        patience: PositiveInt = 3,
        warmup_epochs: Annotated[int, Field(ge=0)] = 3,
        batch_size: Annotated[int, Field(ge=2)] = 64,
        lr: PositiveFloat = 0.05,
        arch_lr: PositiveFloat = 0.05,
        latency_weight: Annotated[float, Field(ge=0)] = 2.0,
        tau_max: PositiveFloat = 5.0,
        tau_min: PositiveFloat = 0.5,
        latency_samples: Annotated[int, Field(ge=20)] = 1000,
        threads: PositiveInt = 1,
        relaxation: Literal["auto", "supernet", "model"] = "auto",
        initial: Annotated[int, Field(ge=2)] = 10,
    ) -> None:
        if tau_min > tau_max:
            raise ConfigError("strategy.tau_min", f"a temperature <= tau_max ({tau_max})", tau_min)
        self.targets = targets
        self.epochs = epochs
        self.patience = patience
        self.warmup_epochs = warmup_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.arch_lr = arch_lr
        self.latency_weight = latency_weight
        self.tau_max = tau_max
        self.tau_min = tau_min
        self.latency_samples = latency_samples
        self.threads = threads
        self.relaxation = relaxation
        self.initial = initial

    def _setup(self) -> None:
        problem = self.problem
        if "latency_ms" in problem.objectives:
            self._latency_column: tuple[str, int] = ("F", problem.objectives.index("latency_ms"))
        else:
            budgets = [i for i, b in enumerate(problem.budgets) if b.metric == "latency_ms"]
            if not budgets:
                raise ConfigError(
                    "objectives",
                    "latency_ms as an objective or a budget (the differentiable strategy "
                    "optimises latency)",
                    list(problem.objectives),
                )
            self._latency_column = ("G", budgets[0])
        mode = self.relaxation
        if mode == "auto":
            mode = "supernet" if "dataset" in problem.context else "model"
        if mode == "supernet" and "dataset" not in problem.context:
            raise ConfigError(
                "strategy.relaxation",
                "'model' for a run without a dataset (the supernet trains on one)",
                self.relaxation,
            )
        if mode == "model" and "error" not in problem.objectives:
            raise ConfigError(
                "objectives",
                "error as an objective (relaxation 'model' learns it)",
                list(problem.objectives),
            )
        self._mode = mode
        self._evaluated: list[tuple[tuple[int, ...], float]] = []
        self._asked: set[str] = set()
        self._queue: list[Arch] | None = None
        self._derived: list[dict[str, Any]] = []
        self._latency: LinearLatency | None = None
        self._told: dict[str, str] = {}

    # -- the predictor ----------------------------------------------------------------
    def _cheap(self, archs: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
        assert self.problem.cheap is not None
        return self.problem.cheap(archs)

    def _latency_ms(self, F: np.ndarray, G: np.ndarray) -> np.ndarray:
        block, j = self._latency_column
        if block == "F":
            return F[:, j]
        return G[:, j] + self.problem.budgets[j].bound

    def _violations(self, target_ms: float) -> Any:
        """Violation of ``target_ms`` and of every cheap budget, for lists of encodings
        (0: meets them all), from the full predictor; cached by architecture."""
        space, budgets = self.problem.space, self.problem.budgets
        cheap = [j for j, b in enumerate(budgets) if b.cheap]
        scale = np.array([abs(budgets[j].bound) or 1.0 for j in cheap])
        memo: dict[str, float] = {}

        def violation(encodings: list[Encoding]) -> np.ndarray:
            archs = [space.decode(e) for e in encodings]
            new = list({str(a): a for a in archs if str(a) not in memo}.values())
            if new:
                F, G = self._cheap(new)
                over = np.maximum(self._latency_ms(F, G) / target_ms - 1.0, 0.0)
                over += (np.maximum(G[:, cheap], 0.0) / scale).sum(axis=1)
                memo.update({str(a): float(v) for a, v in zip(new, over, strict=True)})
            return np.array([memo[str(a)] for a in archs])

        return violation

    def _fit_latency(self) -> LinearLatency:
        space = self.problem.space
        encodings = np.array(
            [
                [int(self.rng.integers(n)) for n in space.n_choices]
                for _ in range(self.latency_samples)
            ]
        )
        F, G = self._cheap([space.decode(e) for e in encodings])
        return fit_linear_latency(encodings, self._latency_ms(F, G), space.n_choices)

    def _target_range(self) -> tuple[float, float]:
        space, problem = self.problem.space, self.problem
        F, G = self._cheap([space.smallest(), space.largest()])
        low, high = self._latency_ms(F, G)
        ceilings = [b.bound for b in problem.budgets if b.metric == "latency_ms" and b.op == "<="]
        return float(min(low, high)), float(min(ceilings) if ceilings else max(low, high))

    # -- ask / tell ---------------------------------------------------------------------
    def ask(self, n: int) -> list[Arch]:
        if self._mode == "model":
            out = self._ask_model(n)
            self._asked.update(str(a) for a in out)
            return out
        if self._queue is None:
            self._queue = self._derive()
        out, self._queue = self._queue[:n], self._queue[n:]
        return out

    def _settings(self) -> Any:
        from hwnas.strategies.differentiable.relax import Settings

        return Settings(
            self.epochs, self.batch_size, self.lr, self.arch_lr, self.latency_weight,
            self.tau_max, self.tau_min, self.patience, self.threads,
        )  # fmt: skip

    def _new_random(self, taken: list[Arch], draws: int = 100) -> Arch | None:
        """A random architecture not asked before, not in ``taken`` and, by the full
        predictor, within the latency ceiling and every cheap budget."""
        space, names = self.problem.space, {str(a) for a in taken}
        ceilings = [
            b.bound for b in self.problem.budgets if b.metric == "latency_ms" and b.op == "<="
        ]
        violation = self._violations(min(ceilings) if ceilings else math.inf)
        for _ in range(draws):
            arch = space.sample(self.rng)
            if str(arch) in self._asked or str(arch) in names:
                continue
            if violation([space.encode(arch)])[0] <= 0:
                return arch
        return None

    def _ask_model(self, n: int) -> list[Arch]:
        """``n`` architectures: random ones until ``initial`` were asked, then one
        relaxation against the refitted error model per architecture (see the module
        docstring)."""
        from hwnas.strategies.differentiable.model import ErrorModel, relax_on_model

        space = self.problem.space
        out: list[Arch] = []
        while len(out) < n and len(self._asked) + len(out) < self.initial:
            arch = self._new_random(out)
            if arch is None:
                break
            out.append(arch)
        if out:
            return out
        if len(self._evaluated) < 2:  # the first ones failed or were skipped: more of them
            while len(out) < n and (arch := self._new_random(out)) is not None:
                out.append(arch)
            return out
        if self._latency is None:
            self._latency = self._fit_latency()
        low, high = self._target_range()
        low = max(low, 1e-3 * high)
        encodings = np.array([e for e, _ in self._evaluated])
        errors = np.array([v for _, v in self._evaluated])
        model = ErrorModel(space.n_choices, seed=int(self.rng.integers(2**31)))
        model.fit(encodings, errors)
        settings = self._settings()
        for i in range(n):
            share = (i + float(self.rng.random())) / n
            target = math.exp(math.log(low) + (math.log(high) - math.log(low)) * share)
            result = relax_on_model(
                model, self._latency, target, settings, int(self.rng.integers(2**31))
            )
            arch, moves, drawn = self._derive_new(result, target, {str(a) for a in out})
            self._derived.append(
                {
                    "target_ms": target,
                    "epochs": result.epochs,
                    "expected_ms": result.history[-1]["expected_ms"],
                    "repair_moves": moves,
                    "drawn": drawn,
                    "arch": None if arch is None else str(arch),
                    "encoding": None if arch is None else list(space.encode(arch)),
                    "evaluated_before": len(self._evaluated),
                }
            )
            if arch is not None:
                out.append(arch)
        return out

    def _derive_new(
        self, result: Any, target: float, taken: set[str], draws: int = 50
    ) -> tuple[Arch | None, int, bool]:
        """The repaired most likely architecture of ``result``, or, when that was asked
        already, a repaired draw from the learned distribution; with ``drawn``."""
        space, violation = self.problem.space, self._violations(target)
        probs = [np.exp(lp) for lp in result.log_probs]
        start: tuple[int, ...] = result.argmax
        for attempt in range(draws + 1):
            if attempt:
                start = tuple(int(self.rng.choice(len(p), p=p / p.sum())) for p in probs)
            repaired, moves = repair(start, result.log_probs, violation)
            if repaired is None:
                continue
            arch = space.decode(repaired)
            if str(arch) not in self._asked and str(arch) not in taken:
                return arch, moves, attempt > 0
        return None, 0, True

    def _derive(self) -> list[Arch]:
        from hwnas.strategies.differentiable.relax import prepare_supernet, search_target

        space, context = self.problem.space, self.problem.context
        settings = self._settings()
        self._latency = self._fit_latency()
        low, high = self._target_range()
        dataset = context["dataset"]
        supernet = prepare_supernet(
            space, dataset, context.get("supernet"), self.warmup_epochs, settings, self.seed
        )
        start = {k: v.clone() for k, v in supernet.state_dict().items()}
        archs: list[Arch] = []
        for k in range(self.targets, 0, -1):
            target = low + (high - low) * k / self.targets
            supernet.load_state_dict(start)
            seed = int(np.random.default_rng([self.seed, k]).integers(2**31))
            result = search_target(supernet, dataset, self._latency, target, settings, seed)
            repaired, moves = repair(result.argmax, result.log_probs, self._violations(target))
            entry: dict[str, Any] = {
                "target_ms": target,
                "epochs": result.epochs,
                "expected_ms": result.history[-1]["expected_ms"],
                "repair_moves": moves,
                "arch": None if repaired is None else str(space.decode(repaired)),
                "encoding": None if repaired is None else list(repaired),
            }
            if repaired is not None:
                F, G = self._cheap([space.decode(repaired)])
                entry["latency_ms"] = float(self._latency_ms(F, G)[0])
                arch = space.decode(repaired)
                if arch not in archs:
                    archs.append(arch)
            self._derived.append(entry)
        return archs

    def _tell(
        self, archs: list[Arch], F: np.ndarray, G: np.ndarray, status: tuple[Status, ...]
    ) -> None:
        column = self.problem.objectives.index("error") if self._mode == "model" else -1
        for i, (arch, s) in enumerate(zip(archs, status, strict=True)):
            self._told[str(arch)] = s.value
            self._asked.add(str(arch))
            if column >= 0 and s is Status.EVALUATED and np.isfinite(F[i, column]):
                self._evaluated.append((self.problem.space.encode(arch), float(F[i, column])))

    def state(self) -> dict[str, Any]:
        """Targets, derived architectures (with their predicted latency, repair moves and
        what became of them), the latency term's held-out fit and the choice histogram."""
        out: dict[str, Any] = {"derived": [dict(e) for e in self._derived]}
        for entry in out["derived"]:
            entry["status"] = self._told.get(entry["arch"] or "", None)
        if self._latency is not None:
            out["latency_fit"] = dict(self._latency.fit_)
        out["choice_histogram"] = self.choice_histogram()
        return out

    def choice_histogram(self) -> dict[str, int]:
        """How often each choice index was taken by an active gene of the derived
        architectures (for ``nb201`` the indices are its operations, in ``OPS`` order)."""
        encodings = np.array([e["encoding"] for e in self._derived if e["encoding"] is not None])
        if not len(encodings):
            return {}
        active = self.problem.space.active_genes(encodings)
        values, counts = np.unique(encodings[active], return_counts=True)
        return {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}
