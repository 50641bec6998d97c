"""The report's figures: the Pareto plot, hypervolume curves and per-layer latency bars.

Each function draws one figure from numbers already gathered and writes one PNG; the
figure is closed even when drawing fails, so one failed plot leaves no state behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.report.data import COST_LABELS, RunData, baseline_point
from hwnas.report.layers import short_node

#: Markers of the exported models (coloured by feasibility) and of the hand-designed ones.
EXPORTED: dict[str, Any] = {"marker": "*", "s": 140, "edgecolors": "black"}
HANDMADE: dict[str, Any] = {"marker": "^", "s": 70, "c": "#ff7f0e", "edgecolors": "black"}


@contextmanager
def _figure(path: Path, dpi: int, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, Any]]:
    """A matplotlib figure (off-screen) saved to ``path`` on success, closed in any case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


def pareto_plot(data: RunData, baselines: list[dict[str, Any]], path: Path) -> Path:
    """Every evaluated candidate (search estimate), the search's front, the exported models
    and the hand-designed networks as measured, and the budgets (dashed: as written;
    dotted: as the search applied them)."""
    cost = data.cost
    with _figure(path, 120, figsize=(7.5, 5)) as (fig, ax):
        ys = np.array([c.metrics["accuracy"] for c in data.done])
        xs = np.array([c.metrics.get(cost, np.nan) for c in data.done])
        ax.scatter(
            xs, ys, s=12, c="#bbbbbb", label=f"evaluated ({len(data.done)}), search estimate"
        )
        if data.front:
            fx = [c.metrics[cost] for c in data.front]
            fy = [c.metrics["accuracy"] for c in data.front]
            ax.step(fx, fy, where="post", c="#1f77b4", lw=1.2)
            ax.scatter(fx, fy, s=25, c="#1f77b4", label=f"Pareto front ({len(data.front)})")
        exported = []
        if data.manifest is not None:
            for m in data.models:
                point = data.exported_point(m)
                if point is None:
                    continue
                exported.append(point)
                color = "#2ca02c" if m["feasible"] else "#d62728"
                ax.scatter([point[1]], [point[0]], c=color, zorder=5, **EXPORTED)
            ax.scatter([], [], c="#2ca02c", label="exported: test accuracy, measured", **EXPORTED)
        named = [(b["name"], baseline_point(b, cost)) for b in baselines]
        shown = sorted((p for _, p in named if p is not None), key=lambda p: p[1])
        labels = []
        for name, point in named:
            if point is None:
                continue
            acc, x = point
            ax.scatter([x], [acc], zorder=5, **HANDMADE)
            # Neighbours' names (in the order of the x axis) alternate below and above
            # their marker, so that two networks of similar latency stay readable.
            below = shown.index(point) % 2 == 0
            labels.append(
                ax.annotate(
                    name,
                    (x, acc),
                    textcoords="offset points",
                    xytext=(5, -10 if below else 5),
                    fontsize=8,
                )
            )
        if shown:
            ax.scatter([], [], label="hand-designed: test accuracy, measured", **HANDMADE)
        _budget_lines(ax, data)
        label = COST_LABELS[cost]
        ax.set_xlabel(f"{label} on {data.device or 'device'}" if cost == "latency_ms" else label)
        ax.set_ylabel("accuracy")
        ax.set_xscale("log")
        accuracies = list(ys) + [a for a, _ in exported] + [a for a, _ in shown]
        ax.set_ylim(max(0.0, min(accuracies) - 0.02) if accuracies else 0.0, 1.0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"{data.path.name}: accuracy vs {cost}")
        keep_inside(fig, ax, labels)
    return path


def keep_inside(fig: Any, ax: Any, labels: list[Any]) -> None:
    """Move each point label (an annotation right of and above or below its marker) that
    crosses the frame of ``ax`` to the other side of its marker: left of it at the right
    edge, below it at the top, above it at the bottom."""
    if not labels:
        return
    fig.tight_layout()  # the layout the figure is saved with, so the frame is where it ends
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    for label in labels:
        box = label.get_window_extent(renderer)
        dx, dy = label.xyann
        if box.x1 > frame.x1:
            label.set_horizontalalignment("right")
            dx = -abs(dx)
        if box.y1 > frame.y1:
            dy = -10
        elif box.y0 < frame.y0:
            dy = 5
        label.xyann = (dx, dy)


def _budget_lines(ax: Any, data: RunData) -> None:
    for budget in data.budgets:
        if budget.metric == data.cost:
            ax.axvline(budget.bound, ls="--", c="#d62728", lw=1)
        elif budget.metric == "accuracy":
            ax.axhline(budget.bound, ls="--", c="#d62728", lw=1)
    for budget, applied in zip(data.budgets, data.search_budgets, strict=True):
        if applied.bound == budget.bound:
            continue
        # Where the search drew the line (safety margin, accuracy slack): dotted.
        if applied.metric == data.cost:
            ax.axvline(applied.bound, ls=":", c="#d62728", lw=1)
        elif applied.metric == "accuracy":
            ax.axhline(applied.bound, ls=":", c="#d62728", lw=1)


def hypervolume_plot(progress: list[dict[str, Any]], path: Path) -> Path:
    """Hypervolume over accuracy evaluations and over seconds."""
    with _figure(path, 120, 1, 2, figsize=(9, 3.2)) as (_, (a1, a2)):
        hv = [p["hypervolume"] for p in progress]
        a1.plot([p["evaluations"] for p in progress], hv, marker="o", ms=3)
        a1.set_xlabel("accuracy evaluations")
        a1.set_ylabel("hypervolume (normalised)")
        a2.plot([p["seconds"] for p in progress], hv, marker="o", ms=3)
        a2.set_xlabel("seconds")
        for a in (a1, a2):
            a.grid(alpha=0.3)
    return path


def layers_plot(model: str, rows: list[dict[str, Any]], path: Path) -> Path:
    """The slowest nodes of a model and its time by operator type."""
    by_op: dict[str, float] = {}
    for r in rows:
        by_op[r["op"]] = by_op.get(r["op"], 0.0) + r["median_us"]
    top = rows[:12][::-1]
    with _figure(path, 110, 1, 2, figsize=(10, 3.6)) as (fig, (b1, b2)):
        b1.barh(range(len(top)), [r["median_us"] for r in top])
        b1.set_yticks(range(len(top)), [short_node(r["node"]) for r in top])
        b1.set_xlabel("µs per inference (slowest nodes)")
        ops = sorted(by_op.items(), key=lambda kv: kv[1])
        b2.barh(range(len(ops)), [v for _, v in ops], color="#ff7f0e")
        b2.set_yticks(range(len(ops)), [k for k, _ in ops])
        b2.set_xlabel("µs per inference, by operator")
        for b in (b1, b2):
            b.tick_params(labelsize=7)
        fig.suptitle(model, fontsize=9)
    return path
