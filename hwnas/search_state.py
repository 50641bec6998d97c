"""A strategy's state in the run store: saved after each step, loaded on resume.

:func:`save_state` stores :meth:`~hwnas.strategies.base.Strategy.state_dict` with where the
loop stands; :func:`load_state` loads it back into a freshly set-up strategy when it was
saved by the same strategy, options, seed, objectives and budgets, and otherwise sets it
aside with a ``RuntimeWarning`` (the search then replays the stored candidates, which alone
determine a replayed search: a refused state costs time, never correctness).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from hwnas.errors import HwnasError
from hwnas.store import RunStore
from hwnas.strategies.base import Problem, Strategy

#: Where a search without a usable stored state starts.
FRESH = {"generation": -1, "told": 0, "best_hv": -1.0, "stale": 0}


def save_state(strategy: Strategy, store: RunStore, record: dict[str, Any]) -> None:
    """Store ``strategy``'s state with ``record`` (where the loop stands), if it keeps one."""
    state = strategy.state_dict()
    if state is None:
        return
    try:
        store.save_state({**record, "stored": store.count(), "state": state})
    except (TypeError, ValueError) as error:
        raise HwnasError(
            f"strategy {strategy.name}: state_dict is not plain JSON ({error})"
        ) from None


def load_state(
    strategy: Strategy,
    store: RunStore,
    identity: dict[str, Any],
    problem: Problem,
    seed: int,
) -> dict[str, Any]:
    """Load the stored state into ``strategy`` when it fits; where the loop then stands."""
    try:
        record = store.load_state()
        if record is None:
            return dict(FRESH)
        # Through JSON, as stored: a tuple option reads back as a list.
        differs = [k for k, v in identity.items() if record.get(k) != _as_stored(v)]
        if differs:
            raise HwnasError(f"it was saved with another {differs[0]}")
        loop = {k: record.get(k) for k in FRESH}
        stored, state = record.get("stored"), record.get("state")
        if not all(isinstance(v, int | float) for v in [*loop.values(), stored]):
            raise HwnasError("its loop counters are missing")
        if int(stored or 0) > store.count():
            raise HwnasError(f"it has seen {stored} candidates, the store holds {store.count()}")
        if not isinstance(state, dict):
            raise HwnasError("it holds no state_dict")
        strategy.load_state_dict(state)
        return loop
    except HwnasError as error:
        warnings.warn(
            f"run store {store.path}: the stored state of the strategy is set aside ({error}); "
            "resuming by replaying the stored candidates",
            RuntimeWarning,
            stacklevel=3,
        )
        strategy.setup(problem, seed)  # a refused load may have changed some of it
        return dict(FRESH)


def _as_stored(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
