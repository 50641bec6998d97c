"""The bench's output: a text table per device and the regret / recall curves as a PNG."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from hwnas.bench.results import BenchResult
from hwnas.errors import HwnasError

__all__ = ["format_report", "plot_bench"]


def format_report(result: BenchResult) -> str:
    """A text table per device: regret (mean +- std, %) and recall (mean, %) per strategy."""
    lines = []
    summary = result.summary()
    queries = result.config.queries
    for column, per_strategy in summary.items():
        device = result.devices[column]
        lines.append(
            f"{column}: true front {len(device.true_front)} architectures; "
            f"{len(result.config.seeds)} seed(s); hypervolume regret % (mean +- std) | "
            "front recall % (mean)"
        )
        head = "".join(f"{q:>17d}" for q in queries)
        lines.append(f"  {'strategy':<16s}{head}   | " + " ".join(f"{q:>6d}" for q in queries))
        for name, stats in per_strategy.items():
            regret = "".join(
                f"{100 * stats[str(q)]['regret_mean']:>9.2f} "
                f"+-{100 * stats[str(q)]['regret_std']:>5.2f}"
                for q in queries
            )
            recall = " ".join(f"{100 * stats[str(q)]['recall_mean']:>6.1f}" for q in queries)
            lines.append(f"  {name:<16s}{regret}   | {recall}")
    lines.append(f"({result.seconds:.0f} s)")
    return "\n".join(lines)


def plot_bench(result: BenchResult, path: str | os.PathLike[str]) -> Path:
    """Regret (log scale) and recall against queries, one column per device; a PNG.

    Args:
        result: What :func:`~hwnas.bench.run_bench` measured.
        path: The PNG file to write (atomically).

    Returns:
        ``path``.

    Raises:
        HwnasError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HwnasError("plotting needs matplotlib: pip install matplotlib") from None
    from hwnas.io import atomic_write_bytes

    columns = list(result.devices)
    queries = np.array(result.config.queries)
    fig, axes = plt.subplots(
        2, len(columns), figsize=(4.6 * len(columns), 7), squeeze=False, sharex=True
    )
    for c, column in enumerate(columns):
        device = result.devices[column]
        for name in result.config.strategies:
            runs = [r for r in device.runs if r.strategy == name]
            if not runs:
                continue
            for r, key in enumerate(("regret", "recall")):
                values = 100 * np.array([getattr(run, key) for run in runs])
                ax = axes[r][c]
                (line,) = ax.plot(queries, values.mean(axis=0), marker="o", ms=3, label=name)
                if len(runs) > 1:
                    lo, hi = np.percentile(values, [25, 75], axis=0)
                    ax.fill_between(queries, lo, hi, color=line.get_color(), alpha=0.15)
        axes[0][c].set_yscale("log")
        axes[0][c].set_title(f"{column} ({len(device.true_front)} on the true front)")
        axes[0][c].set_ylabel("hypervolume regret (%)")
        axes[1][c].set_ylabel("true-front recall (%)")
        axes[1][c].set_xlabel("accuracy queries")
        for ax in axes[:, c]:
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    seeds = len(result.config.seeds)
    fig.suptitle(
        f"{result.config.accuracy_column}: mean over {seeds} seed(s), band 25-75 %", fontsize=10
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    out = Path(path)
    atomic_write_bytes(out, buffer.getvalue())
    return out
