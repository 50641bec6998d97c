"""``rl``: REINFORCE over the space's decisions, under hard cheap budgets.

The policy (:mod:`.controller`) draws one choice per decision of ``space.n_choices``; an
encoding decodes to an architecture. Each ``ask`` draws samples until it has ``n`` new
architectures that meet every cheap budget (checked with ``problem.cheap``), so that no ask
costs an accuracy query it cannot use:

* a sample over a cheap budget is never asked; it is remembered with the penalty accuracy 0
  and enters the next update with that reward (the controller learns from it at no cost);
* a sample already told is never asked again; it enters the next update with the reward it
  earned (the loop would answer it from history anyway; here it costs no step at all);
* a sample already asked and not yet told is dropped.

Every sample drawn from the policy is thus part of the next policy-gradient step, whether it
cost a query or not. When ``max_draws`` draws per wanted architecture found nothing new
(the policy has settled), the ask is filled with uniformly random new feasible architectures,
which are told but not used in the gradient (they were not drawn from the policy). A failed
evaluation is remembered (never asked again) and left out of the gradient: a failure is no
measurement of the reward.

One update per ``tell``: REINFORCE with a moving-average baseline, an entropy bonus and Adam
(``loss = -mean((r - b) log p) - entropy_weight * mean(H)``).

With ``imagined > 0`` (model-based REINFORCE, as AlphaX rolls out against a learned
predictor): after each ``tell`` that leaves at least ``_MIN_MODEL_POINTS`` evaluated
architectures, a small MLP error model (:class:`~hwnas.strategies.differentiable.model.
ErrorModel`) is fitted on them, and the controller takes ``imagined`` further updates on
fresh policy samples scored with the model's accuracy (the told accuracy for an architecture
already evaluated, the penalty for one over a cheap budget). These cost no query: 300 queries
are only 30 real updates, and the model lets the policy move between them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from hwnas.errors import ArchError, ConfigError, HwnasError
from hwnas.spaces.base import Arch
from hwnas.strategies.base import Status, Strategy, checked_options, register_strategy
from hwnas.strategies.rl.rewards import PARETO_BASE, Reward, reward_value

#: Cheap metrics the reward may trade accuracy against, in order of preference.
_COSTS = ("latency_ms", "macs", "params")
#: Default learning rates (NB201 seeds 0-9; Adam moves a logit by about lr per update, and
#: 300 queries make only 30 updates of 10).
_LEARNING_RATES = {"logits": 0.2, "lstm": 0.01}
#: Random architectures whose cheap cost sets the target range of the ``pareto`` reward.
_RANGE_SAMPLES = 256
#: Temperatures of the policy tried, in order, to fill an ask the settled policy cannot
#: (then uniform random architectures).
_FILL_TEMPERATURES = (2.0, 4.0)
#: Evaluated architectures needed before the error model of ``imagined`` updates is fitted.
_MIN_MODEL_POINTS = 20
#: Imagined updates per tell by default (NB201 seeds 0-9, Pixel 3 / 1080 Ti regret at 300
#: queries: 0.81 / 2.85 % without, 0.73 / 2.42 % with 5, 0.63 / 2.31 % with 10, 0.77 / 2.80 %
#: with 20; with the cheapest-architecture target range 0.99 / 2.77 % without, 0.77 / 1.94 %
#: with 10; adding the tempered fills, 0.82 / 1.56 % with 10, 0.88 / 2.86 % with 20).
_IMAGINED = 10
#: Policy samples per imagined update.
_IMAGINED_SAMPLES = 64


@register_strategy("rl")
class ReinforceSearch(Strategy):
    """REINFORCE controller (per-decision logits or an LSTM) with hard cheap budgets.

    The reward trades accuracy against a cost: ``latency_ms`` when it is an objective or a
    budget, otherwise the first cheap objective (``macs``, ``params``); see
    :mod:`hwnas.strategies.rl.rewards` for the formulas.

    Args:
        controller: ``logits`` (independent per-decision logits, as NAS-Bench-201's
            REINFORCE) or ``lstm`` (Zoph & Le).
        reward: ``auto`` is ``pareto`` when the cost is an objective and ``accuracy``
            otherwise (budgets alone are honoured by never asking what breaks them);
            ``mnas-soft``, ``mnas-hard`` and ``tunas`` need a target; ``pareto`` draws one
            target per sample, log-uniformly over the space's cost range (capped by the
            cost's budget), and feeds it to the controller, so one run covers the front.
        target: The target ``T`` in the cost's unit (ms for latency); default: the
            cost's budget.
        learning_rate: Adam's learning rate (default 0.2 for ``logits``, 0.01 for ``lstm``,
            chosen on NAS-Bench-201; see ``benchmarks/results/rl_nb201.md``).
        baseline_decay: Decay of the moving-average reward baseline.
        entropy_weight: Weight of the entropy bonus.
        hidden: LSTM units (``lstm`` only).
        max_draws: Samples drawn per wanted architecture before the ask is filled with
            random new ones.
        warm_start: Path of a JSON file holding the ``state_dict`` of an earlier ``rl`` run
            with the same controller on the same space: its controller parameters are the
            starting point (its optimiser, baseline, history and generator are not used).
        imagined: Updates per ``tell`` on samples scored by an error model fitted on the
            evaluated architectures (model-based REINFORCE; 0: none). Needs ``error`` as an
            objective. Default: ``_IMAGINED`` when ``error`` is an objective, else 0.
    """

    name = "rl"

    @checked_options
    def __init__(
        self,
        controller: Literal["logits", "lstm"] = "logits",
        reward: Reward = "auto",
        target: Annotated[float, Field(gt=0)] | None = None,
        learning_rate: Annotated[float, Field(gt=0)] | None = None,
        baseline_decay: Annotated[float, Field(ge=0, lt=1)] = 0.9,
        entropy_weight: Annotated[float, Field(ge=0)] = 1e-3,
        hidden: Annotated[int, Field(ge=1)] = 64,
        max_draws: Annotated[int, Field(ge=1)] = 50,
        warm_start: str | None = None,
        imagined: Annotated[int, Field(ge=0)] | None = None,
    ) -> None:
        self.controller = controller
        self.reward = reward
        self.target = target
        self.learning_rate = learning_rate
        self.baseline_decay = baseline_decay
        self.entropy_weight = entropy_weight
        self.hidden = hidden
        self.max_draws = max_draws
        self.warm_start = warm_start
        self.imagined = imagined

    # -- set-up ----------------------------------------------------------------------------
    def _setup(self) -> None:
        import torch

        from hwnas.strategies.rl.controller import LogitsController, LSTMController

        problem, space = self.problem, self.problem.space
        self._error = problem.objectives.index("error") if "error" in problem.objectives else None
        self._cost = self._cost_source()
        self._kind = self._resolve_reward()
        if self.imagined and self._error is None:
            raise ConfigError(
                "strategy.imagined", "0 for a problem without an error objective", self.imagined
            )
        self._imagined = (
            self.imagined
            if self.imagined is not None
            else (_IMAGINED if self._error is not None else 0)
        )
        self._range = self._target_range() if self._kind == "pareto" else None
        generator = torch.Generator().manual_seed(self.seed)
        self._policy = (
            LogitsController(space.n_choices, generator)
            if self.controller == "logits"
            else LSTMController(space.n_choices, generator, self.hidden)
        )
        if self.warm_start is not None:
            self._load_parameters(self.warm_start)
        lr = self.learning_rate or _LEARNING_RATES[self.controller]
        self._optimizer = torch.optim.Adam(self._policy.parameters(), lr=lr)
        self._baseline: float | None = None
        # arch -> (accuracy for the reward: None after a failure, 0 over a cheap budget; cost)
        self._known: dict[Arch, tuple[float | None, float]] = {}
        # asked, not yet told: arch -> (encoding, t, drawn from the policy)
        self._pending: dict[Arch, tuple[list[int], float, bool]] = {}
        # free samples (known rewards) for the next update: (encoding, t, accuracy, cost)
        self._buffer: list[tuple[list[int], float, float, float]] = []
        # evaluated architectures' accuracies (the error model's training set)
        self._measured: dict[Arch, float] = {}
        # cheap feasibility and cost of every architecture screened or scored
        self._cheap_cache: dict[Arch, tuple[bool, float]] = {}
        self.updates = 0
        self.queries = 0

    def _cost_source(self) -> tuple[str, str, int] | None:
        """``(metric, "F" or "G", column)``: where ``tell`` finds the reward's cost."""
        problem = self.problem
        for metric in _COSTS:
            if metric in problem.objectives:
                return metric, "F", problem.objectives.index(metric)
            for j, budget in enumerate(problem.budgets):
                if budget.metric == metric and budget.op == "<=":
                    return metric, "G", j
        return None

    def _resolve_reward(self) -> str:
        cost = self._cost
        kind = self.reward
        if kind == "auto":
            return "pareto" if cost is not None and cost[1] == "F" else "accuracy"
        if kind != "accuracy" and cost is None:
            raise ConfigError(
                "strategy.reward",
                "'accuracy' or 'auto' (the problem has no latency_ms, macs or params)",
                kind,
            )
        if kind in ("mnas-soft", "mnas-hard", "tunas") and self._fixed_target() is None:
            assert cost is not None
            raise ConfigError(
                "strategy.target",
                f"a target {cost[0]} for reward {kind!r} (by default the ceiling of a "
                f"'{cost[0]} <= ...' budget, and the problem has none)",
                None,
            )
        return kind

    def _budget_bound(self) -> float | None:
        if self._cost is None:
            return None
        bounds = [
            b.bound for b in self.problem.budgets if b.metric == self._cost[0] and b.op == "<="
        ]
        return min(bounds) if bounds else None

    def _fixed_target(self) -> float | None:
        return self.target if self.target is not None else self._budget_bound()

    def _target_range(self) -> tuple[float, float]:
        """Log-range of the ``pareto`` targets: from the cheapest architecture found (the
        cheapest of random ones, or the one taking each decision's choice of least mean
        cost among them) to the 99th percentile of random architectures' cost, capped by
        the cost's budget. The front's cheap end lies below random architectures' (on the
        NB201 1080 Ti column the cheapest front member is 3.6 ms, the 1st percentile of
        random ones 4.7 ms); a target there is the only reward that asks for it."""
        if self.problem.cheap is None:
            raise ConfigError("strategy.reward", "a problem with cheap metrics for 'pareto'", None)
        rng = np.random.default_rng([self.seed, 1])
        space = self.problem.space
        sample = [space.sample(rng) for _ in range(_RANGE_SAMPLES)]
        F, G = self.problem.cheap(sample)
        costs = self._costs_of(F, G)
        hi = float(np.quantile(costs, 0.99))
        bound = self._budget_bound()
        hi = min(hi, bound) if bound is not None else hi
        lo = float(min(np.nanmin(costs), self._greedy_cheapest(sample, costs)))
        lo = min(max(lo, 1e-3 * hi), 0.5 * hi)
        return float(np.log(lo)), float(np.log(hi))

    def _greedy_cheapest(self, sample: list[Arch], costs: np.ndarray) -> float:
        """The cost of the architecture taking, per decision, the choice whose sampled
        architectures cost least on average (``inf`` when it cannot be built)."""
        space = self.problem.space
        encodings = np.array([space.encode(a) for a in sample])
        choice = []
        for d, n in enumerate(space.n_choices):
            means = [
                float(np.nanmean(costs[encodings[:, d] == c]))
                if np.any(encodings[:, d] == c)
                else np.inf
                for c in range(n)
            ]
            choice.append(int(np.argmin(means)))
        try:
            arch = space.decode(choice)
        except ArchError:
            return float("inf")
        F, G = self.problem.cheap([arch])  # type: ignore[misc]
        cost = float(self._costs_of(F, G)[0])
        return cost if np.isfinite(cost) else float("inf")

    def _load_parameters(self, path: str) -> None:
        try:
            state = json.loads(Path(path).read_text())
            self._set_parameters(state["controller"])
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
            raise ConfigError(
                "strategy.warm_start",
                f"the state_dict JSON of an rl run with a {self.controller} controller "
                f"on this space ({type(error).__name__}: {error})",
                path,
            ) from None

    # -- ask -------------------------------------------------------------------------------
    def ask(self, n: int) -> list[Arch]:
        space = self.problem.space
        out: list[Arch] = []
        draws = 0
        while len(out) < n and draws < self.max_draws * n:
            m = 2 * (n - len(out))
            t = self._draw_t(m)
            X = self._policy.sample(t, self.rng)
            draws += m
            archs = [space.decode([int(v) for v in x]) for x in X]
            fresh = [a for a in dict.fromkeys(archs) if a not in self._known]
            feasible = self._screen(fresh)
            for x, ti, arch in zip(X, t, archs, strict=True):
                known = self._known.get(arch)
                if known is not None and known[0] is not None:
                    self._buffer.append(([int(v) for v in x], float(ti), known[0], known[1]))
                elif (
                    known is None and arch not in self._pending and len(out) < n and feasible[arch]
                ):
                    out.append(arch)
                    self._pending[arch] = ([int(v) for v in x], float(ti), True)
        for temperature in _FILL_TEMPERATURES:
            if len(out) < n:
                out += self._fill(
                    n - len(out), functools.partial(self._tempered, temperature), self.max_draws
                )
        if len(out) < n:
            out += self._fill(
                n - len(out), lambda m: [space.sample(self.rng) for _ in range(m)], 100
            )
        self.queries += len(out)
        return out

    def _tempered(self, temperature: float, m: int) -> list[Arch]:
        """``m`` architectures drawn from the policy flattened by ``temperature``: near the
        settled policy's choices, unlike uniform random ones."""
        X = self._policy.sample(self._draw_t(m), self.rng, temperature)
        return [self.problem.space.decode([int(v) for v in x]) for x in X]

    def _fill(self, k: int, draw: Callable[[int], list[Arch]], rounds: int) -> list[Arch]:
        """Up to ``k`` new architectures from ``draw`` (``4 k`` per round, at most
        ``rounds`` rounds) that meet the cheap budgets; told but not used in the gradient
        (not drawn from the policy itself)."""
        space = self.problem.space
        out: list[Arch] = []
        for _ in range(rounds):
            fresh = [
                a
                for a in dict.fromkeys(draw(4 * k))
                if a not in self._known and a not in self._pending and a not in out
            ]
            ok = self._screen(fresh)
            for arch in fresh:
                if ok[arch] and len(out) < k:
                    out.append(arch)
                    self._pending[arch] = (list(space.encode(arch)), 0.0, False)
            if len(out) == k:
                break
        return out

    def _draw_t(self, m: int) -> np.ndarray:
        if self._kind == "pareto":
            return self.rng.uniform(-1.0, 1.0, m)
        return np.zeros(m)

    def _screen(self, archs: list[Arch]) -> dict[Arch, bool]:
        """Which of ``archs`` meet every cheap budget; those that do not are remembered
        with the penalty accuracy 0 (and their reward enters the next update)."""
        self._cheap_costs(archs)
        ok = {}
        for arch in archs:
            ok[arch], cost = self._cheap_cache[arch]
            if not ok[arch]:
                self._known[arch] = (0.0, cost)
        return ok

    # -- tell ------------------------------------------------------------------------------
    def _tell(
        self, archs: list[Arch], F: np.ndarray, G: np.ndarray, status: tuple[Status, ...]
    ) -> None:
        costs = self._costs_of(F, G)
        # Without an error objective every evaluated candidate counts as accurate.
        accuracy = np.ones(len(archs)) if self._error is None else 1.0 - F[:, self._error]
        batch = self._buffer
        self._buffer = []
        for arch, acc, cost, s in zip(archs, accuracy, costs, status, strict=True):
            value: float | None = {
                Status.EVALUATED: float(acc),
                Status.SKIPPED: 0.0,  # over a cheap budget: the penalty
                Status.FAILED: None,
            }[s]
            self._known[arch] = (value, float(cost))
            if s is Status.EVALUATED and self._error is not None:
                self._measured[arch] = float(acc)
            encoding, t, on_policy = self._pending.pop(arch, ([], 0.0, False))
            if on_policy and value is not None:
                batch.append((encoding, t, value, float(cost)))
        if batch:
            self._update(batch)
        if self._imagined and len(self._measured) >= _MIN_MODEL_POINTS:
            self._imagine()

    def _imagine(self) -> None:
        """``imagined`` updates on policy samples scored by an error model fitted on the
        evaluated architectures (see the module docstring)."""
        from hwnas.strategies.differentiable.model import ErrorModel

        space = self.problem.space
        archs = list(self._measured)
        encodings = np.array([space.encode(a) for a in archs])
        errors = 1.0 - np.array([self._measured[a] for a in archs])
        model = ErrorModel(space.n_choices, seed=int(self.rng.integers(2**31)))
        model.fit(encodings, errors)
        for _ in range(self._imagined):
            t = self._draw_t(_IMAGINED_SAMPLES)
            X = self._policy.sample(t, self.rng)
            drawn = [space.decode([int(v) for v in x]) for x in X]
            self._cheap_costs([a for a in dict.fromkeys(drawn) if a not in self._known])
            predicted = np.clip(1.0 - model.predict(X), 0.0, 1.0)
            batch = []
            for x, ti, arch, guess in zip(X, t, drawn, predicted, strict=True):
                known = self._known.get(arch)
                if known is not None:
                    if known[0] is None:  # failed: no measurement of the reward
                        continue
                    accuracy, cost = known[0], known[1]
                else:
                    feasible, cost = self._cheap_cache[arch]
                    accuracy = float(guess) if feasible else 0.0
                batch.append(([int(v) for v in x], float(ti), accuracy, float(cost)))
            if batch:
                self._update(batch)

    def _cheap_costs(self, archs: list[Arch]) -> None:
        """Feasibility and cost of ``archs`` into the cache (one cheap call for the new;
        without cheap metrics everything is feasible at an unknown cost)."""
        new = [a for a in archs if a not in self._cheap_cache]
        if not new:
            return
        if self.problem.cheap is None:
            self._cheap_cache.update(dict.fromkeys(new, (True, float("nan"))))
            return
        F, G = self.problem.cheap(new)
        for arch, g, cost in zip(new, G, self._costs_of(F, G), strict=True):
            feasible = bool(np.all(np.nan_to_num(g, nan=-np.inf) <= 0))
            self._cheap_cache[arch] = (feasible, float(cost))

    def _costs_of(self, F: np.ndarray, G: np.ndarray) -> np.ndarray:
        """The reward's cost per row (``nan`` without one)."""
        if self._cost is None:
            return np.full(len(F), np.nan)
        _, where, j = self._cost
        if where == "F":
            return np.asarray(F, float)[:, j]
        return np.asarray(G, float)[:, j] + self.problem.budgets[j].bound

    def _targets(self, t: np.ndarray) -> np.ndarray:
        if self._range is None:
            target = self._fixed_target()
            return np.full(len(t), np.nan if target is None else target)
        lo, hi = self._range
        return np.exp(lo + (t + 1.0) / 2.0 * (hi - lo))

    def rewards(self, t: np.ndarray, accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """The reward of samples with targets ``t`` (normalised, see :meth:`ask`)."""
        kind = PARETO_BASE if self._kind == "pareto" else self._kind
        return reward_value(kind, accuracy, cost, self._targets(np.asarray(t, float)))

    def _update(self, batch: list[tuple[list[int], float, float, float]]) -> None:
        import torch

        encodings = torch.tensor([b[0] for b in batch], dtype=torch.long)
        t = np.array([b[1] for b in batch])
        r = self.rewards(t, np.array([b[2] for b in batch]), np.array([b[3] for b in batch]))
        mean = float(r.mean())
        baseline = mean if self._baseline is None else self._baseline
        advantage = torch.as_tensor(r - baseline, dtype=torch.float32)
        log_p, entropy = self._policy.log_prob_entropy(
            encodings, torch.as_tensor(t, dtype=torch.float32)
        )
        loss = -(advantage * log_p).mean() - self.entropy_weight * entropy.mean()
        self._optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        self._optimizer.step()
        self._baseline = self.baseline_decay * baseline + (1 - self.baseline_decay) * mean
        self.updates += 1

    def state(self) -> dict[str, Any]:
        return {"updates": self.updates, "baseline": self._baseline, "reward": self._kind}

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any] | None:
        """Everything needed to continue exactly: the controller and Adam (nested lists),
        the baseline, the numpy generator's state, what was told and what is pending."""
        from hwnas.strategies.rl.state import finite_or_none, optimizer_to_json, tensors_to_json

        return {
            "version": 1,
            "controller": tensors_to_json(self._policy.state_dict()),
            "optimizer": optimizer_to_json(self._optimizer),
            "baseline": self._baseline,
            "range": self._range,
            "rng": self.rng.bit_generator.state,
            "known": [[str(a), acc, finite_or_none(c)] for a, (acc, c) in self._known.items()],
            "pending": [[str(a), enc, t, on] for a, (enc, t, on) in self._pending.items()],
            "buffer": [[enc, t, acc, finite_or_none(c)] for enc, t, acc, c in self._buffer],
            "measured": [[str(a), acc] for a, acc in self._measured.items()],
            "updates": self.updates,
            "queries": self.queries,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (after :meth:`setup` with the same problem).

        Raises:
            HwnasError: ``state`` is not a state of this strategy's controller and space.
        """
        try:
            self._load_state(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise HwnasError(
                f"not a state of an rl strategy with a {self.controller} controller on this "
                f"space ({type(error).__name__}: {error})"
            ) from None

    def _load_state(self, state: dict[str, Any]) -> None:
        from hwnas.strategies.rl.state import none_to_nan, optimizer_from_json

        parse = self.problem.space.parse
        self._set_parameters(state["controller"])
        optimizer_from_json(self._optimizer, state["optimizer"])
        self._baseline = state["baseline"]
        self._range = tuple(state["range"]) if state["range"] is not None else None
        self.rng.bit_generator.state = state["rng"]
        self._known = {parse(a): (acc, none_to_nan(c)) for a, acc, c in state["known"]}
        self._pending = {parse(a): (enc, t, on) for a, enc, t, on in state["pending"]}
        self._buffer = [(enc, t, acc, none_to_nan(c)) for enc, t, acc, c in state["buffer"]]
        self._measured = {parse(a): float(acc) for a, acc in state.get("measured", [])}
        self._cheap_cache = {}
        self.updates = int(state["updates"])
        self.queries = int(state["queries"])

    def _set_parameters(self, values: dict[str, Any]) -> None:
        from hwnas.strategies.rl.state import tensors_from_json

        self._policy.load_state_dict(tensors_from_json(values))
