"""Which trained models export keeps, and how they rank once trained.

The search ranked candidates on short-training estimates and predicted latency; export
trains each in full and measures it, and these rules decide on those figures:
:func:`keep_best` keeps the ``top_k`` best (feasible first, then non-domination on
validation accuracy and measured latency; a model that a hand-designed network trained
with it equals or beats on every objective gives way), :func:`mark_pareto` flags the
non-dominated ones, and :func:`add_hand_designed` lets the space's hand-designed networks compete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.export.selection import Selection, select_candidates

#: Metrics the search estimates (short training, inherited weights) rather than measures.
ESTIMATED_METRICS = ("accuracy", "error")

if TYPE_CHECKING:
    from hwnas.export.run import ExportedModel


def hand_designed_by_key(space: Any) -> dict[str, str]:
    """The name of each of the space's hand-designed networks, by network key."""
    return {str(space.network_key(space.parse(a))): n for n, a in space.baselines().items()}


def add_hand_designed(
    candidates: Sequence[Any],
    selection: Selection,
    space: Any,
    measure: Any,
    components: Any,
) -> None:
    """Append to ``selection.chosen`` the space's hand-designed networks that the search
    evaluated, that meet the budgets (measured latency included, as for the others) and
    that are not chosen already.

    An accuracy budget is not applied to the search's estimate of these: a well-known
    network trained briefly can look poor (LeNet-5 after the main job's 5 epochs: 0.91,
    under its floor even with the slack; after export's 20: 0.97), and a network left out
    here is still trained for the report, where it may beat exported models that export
    never compared with it. Every budget is checked on the trained model, as for the
    others.
    """

    def key(c: Any) -> str:
        return str(space.network_key(space.parse(c.arch)))

    names = hand_designed_by_key(space)
    chosen = {key(c) for c, _ in selection.chosen}
    pool = [c for c in candidates if key(c) in names and key(c) not in chosen]
    if not pool:
        return
    firm = [
        (written, applied)
        for written, applied in zip(components.budgets, components.search_budgets, strict=True)
        if written.metric not in ESTIMATED_METRICS
    ]
    extra = select_candidates(
        pool,
        objectives=tuple(components.objectives),
        budgets=tuple(w for w, _ in firm),
        search_budgets=tuple(a for _, a in firm),
        top_k=len(names),
        key=key,
        measure=measure,
        reason=selection.reason,
    )
    # Over a latency ceiling once measured: not offered (the others' fallback does not
    # apply to these extras).
    kept = [c for c, _ in extra.chosen if c.arch not in extra.rejected]
    rank = _search_ranks(candidates, components)
    selection.chosen.extend((c, rank.get(c.arch, 0)) for c in kept)
    selection.measured_ms.update(extra.measured_ms)


def _search_ranks(candidates: Sequence[Any], components: Any) -> dict[str, int]:
    """Non-domination rank of each feasible evaluated candidate among all of them."""
    from hwnas.pareto import candidate_values, nondominated_ranks, violation

    done = [c for c in candidates if c.status == "done"]
    if not done:
        return {}
    objectives = tuple(components.objectives)
    _, G = candidate_values(done, objectives, tuple(components.search_budgets))
    feasible = [c for c, v in zip(done, violation(G), strict=True) if v <= 0]
    if not feasible:
        return {}
    F, _ = candidate_values(feasible, objectives, ())
    return {c.arch: int(r) for c, r in zip(feasible, nondominated_ranks(F), strict=True)}


def keep_best(
    models: list[ExportedModel], objectives: Sequence[str], k: int | None
) -> tuple[list[ExportedModel], list[ExportedModel], dict[str, str]]:
    """The ``k`` best trained models (in their order), the others, and why each other was
    not kept (by name).

    Best: feasible first, then by non-domination rank on trained validation accuracy and
    measured latency (the run's objectives), then by validation accuracy; a rank with
    more models than the places left is taken spread along it (:func:`_spread_within_groups`).
    A model is passed over when a hand-designed network trained with it (kept or not) and
    meeting the budgets is as good on every objective (as accurate and as fast, or
    better): a user would deploy that network instead, and it takes the place (it is
    considered next). That holds for a hand-designed network too, against the others (on
    a tie the one ranked first stays). The next one fills a place left, and fewer than
    ``k`` are kept when none is left.
    """
    from hwnas.pareto import nondominated_ranks

    if k is None:
        return models, [], {}
    F, _ = _trained_objectives(models, objectives)
    F = np.nan_to_num(F, nan=np.inf)
    ranks = nondominated_ranks(F)
    order = sorted(
        range(len(models)),
        key=lambda i: (not models[i].feasible, int(ranks[i]), -models[i].val_accuracy),
    )
    order, spread = _spread_within_groups(order, models, ranks, F, k)
    # Every hand-designed network trained and feasible, kept or not: one that a kept model
    # outranks is still there to deploy, and a model no better than it is not worth export.
    hand = [i for i in order if models[i].hand_designed and models[i].feasible]
    rank_of = {i: n for n, i in enumerate(order)}
    words = _objective_words(objectives)
    reasons: dict[str, str] = {}
    kept: list[int] = []
    todo = list(order)
    while todo:
        i = todo.pop(0)
        model = models[i]
        by = [h for h in hand if h != i and np.all(F[h] <= F[i])]
        if model.hand_designed:
            # Among hand-designed networks a tie keeps the one ranked first; a searched
            # model gives way on a tie (the network a user knows is deployed instead).
            by = [h for h in by if np.any(F[h] < F[i]) or rank_of[h] < rank_of[i]]
        if by:
            h = models[by[0]]
            reasons[model.name] = (
                f"the hand-designed {h.name} is as good once trained on every objective "
                f"(validation accuracy {h.val_accuracy:.4f} vs {model.val_accuracy:.4f}, "
                f"latency {_ms(_latency(h))} vs {_ms(_latency(model))})"
            )
            if by[0] in todo:  # it takes this one's place along the front
                todo.remove(by[0])
                todo.insert(0, by[0])
        elif len(kept) == k:
            reasons[model.name] = _spare_reason(i, kept, models, ranks, F, spread, words)
        else:
            kept.append(i)
    return (
        [m for i, m in enumerate(models) if i in kept],
        [m for i, m in enumerate(models) if i not in kept],
        reasons,
    )


def _spare_reason(
    i: int,
    kept: list[int],
    models: list[ExportedModel],
    ranks: np.ndarray,
    F: np.ndarray,
    spread: set[int],
    words: str,
) -> str:
    """Why trained model ``i`` was left out once ``kept`` filled every place."""
    if not models[i].feasible and any(models[j].feasible for j in kept):
        broken = "; ".join(models[i].broken_budgets) or "a budget"
        return f"a spare: breaks {broken} once trained and measured (those kept meet them)"
    over = [j for j in kept if np.all(F[j] <= F[i]) and np.any(F[j] < F[i])]
    if over:
        return (
            f"a spare: {models[over[0]].name}, kept, dominates it once trained (as good or "
            f"better on {words})"
        )
    if any(
        int(ranks[j]) == int(ranks[i]) and models[j].feasible == models[i].feasible for j in kept
    ):
        how = (
            f"the {len(kept)} kept are spread along that front"
            if i in spread
            else "the most accurate of that front was kept"
            if len(kept) == 1
            else f"the {len(kept)} most accurate of that front were kept"
        )
        return f"a spare: as good as those kept on {words} once trained (none dominates it); {how}"
    return f"a spare: others ranked better on {words} once trained"


def _objective_words(objectives: Sequence[str]) -> str:
    """The objectives as a reason names them: ``validation accuracy and measured latency``."""
    names = {
        "error": "validation accuracy",
        "latency_ms": "measured latency",
        "macs": "MACs",
        "params": "parameters",
    }
    words = [names.get(o, o) for o in objectives]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _spread_within_groups(
    order: list[int], models: list[ExportedModel], ranks: np.ndarray, F: np.ndarray, k: int
) -> tuple[list[int], set[int]]:
    """``order`` with each group of equal feasibility and rank that holds more models than
    the places left (two or more) reordered so that the ones taken first are spread along
    it, and the members of the groups so reordered.

    The trained front can be larger than ``k``, and taking its ``k`` most accurate had
    dropped its fastest model, where latency budgets bite. So the best of the group on
    each objective comes first (the most accurate, then the fastest, then the smallest:
    the run's objectives in their order), then picks spread evenly along its accuracy
    order (both ends of a two-objective front), then the rest in accuracy order.
    """
    from itertools import groupby

    from hwnas.pareto import spread_indices

    out: list[int] = []
    spread: set[int] = set()
    for _, members in groupby(order, key=lambda i: (not models[i].feasible, int(ranks[i]))):
        group = list(members)  # most accurate first
        room = k - len(out)
        if 2 <= room < len(group):
            first: list[int] = []
            # The best on each objective (the first in accuracy order on a tie).
            best = [group[int(np.argmin(F[group, c]))] for c in range(F.shape[1])]
            for i in best + [group[j] for j in spread_indices(len(group), room)]:
                if i not in first and len(first) < room:
                    first.append(i)
            group = first + [i for i in group if i not in first]
            spread.update(group)
        out += group
    return out, spread


def _latency(model: ExportedModel) -> float | None:
    """Measured latency, else predicted (``None``: neither)."""
    measured = model.measured_latency_ms
    return model.predicted_latency_ms if measured is None else measured


def _ms(latency: float | None) -> str:
    return "unknown" if latency is None else f"{latency:.4g} ms"


def mark_pareto(models: list[ExportedModel], objectives: Sequence[str]) -> None:
    """Flag the feasible models no other feasible exported model dominates, on trained
    validation accuracy and measured latency (predicted where not measured)."""
    from hwnas.pareto import pareto_mask

    if not models:
        return
    F, G = _trained_objectives(models, objectives)
    for model, keep in zip(models, pareto_mask(F, G), strict=True):
        model.pareto = bool(keep)


def _trained_objectives(
    models: list[ExportedModel], objectives: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Objective rows (trained validation accuracy, measured latency: predicted where not
    measured) and a feasibility column of ``models``."""
    from hwnas.objectives import objective_vector

    F = []
    for m in models:
        latency = _latency(m)
        metrics: dict[str, float] = {
            "accuracy": m.val_accuracy,
            "error": 1 - m.val_accuracy,
            "latency_ms": float("nan") if latency is None else latency,
            "macs": m.macs,
            "params": m.params,
        }
        F.append(objective_vector(metrics, tuple(objectives)))
    return np.array(F, dtype=float), np.array([[0.0 if m.feasible else 1.0] for m in models])


__all__ = ["add_hand_designed", "hand_designed_by_key", "keep_best", "mark_pareto"]
