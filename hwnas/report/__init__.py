"""Reports of a run: Pareto plot, hypervolume curves, exported models, per-layer latency.

:func:`report_run` reads a run folder and writes ``runs/<id>/report/``: ``pareto.png``
(every evaluated candidate, the Pareto front, the budgets, the exported models as
measured, and the hand-designed networks of ``export/baselines.json``, trained with the
same recipe and measured on the same runtime by :func:`hwnas.baselines.run_baselines`),
``hypervolume.png`` (over evaluations and over time), ``layers-<model>.png`` and ``.csv``
(onnxruntime's per-node profile of each exported model), ``report.json`` (every number)
and ``index.html`` (all of it on one page). The report trains nothing. Each plot and each
model's layer profile is a part: one that fails is listed in ``report.json`` and on the
page, and the rest of the report is still written.

Modules: :mod:`~hwnas.report.data` (reading the run), :mod:`~hwnas.report.plots`,
:mod:`~hwnas.report.layers` (onnxruntime profiling), :mod:`~hwnas.report.html`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hwnas.io import atomic_write_json, atomic_write_text
from hwnas.parts import Parts
from hwnas.report import html, layers, plots
from hwnas.report.data import gather, report_data
from hwnas.report.layers import layer_profile

__all__ = ["layer_profile", "report_run"]


def report_run(
    run_dir: str | Path,
    *,
    baselines: bool = True,
    layer_runs: int = 50,
    say: Callable[[str], None] | None = None,
) -> Path:
    """Write the report of ``run_dir``; returns the path of ``index.html``.

    Args:
        run_dir: A run folder (``runs/<id>``).
        baselines: Show the hand-designed networks of ``export/baselines.json`` (the page
            says when they were not run).
        layer_runs: Inferences profiled per exported model.
        say: Called with one line per failed part.

    Raises:
        HwnasError: A missing or corrupted run folder, manifest or baselines file, or a run
            without any evaluated candidate.
    """
    data = gather(run_dir, baselines=baselines)
    out = data.path / "report"
    out.mkdir(exist_ok=True)
    parts = Parts(say)

    def plot(part: str, draw: Callable[[Path], Path], file: str) -> str | None:
        # An earlier report's figure must not stand in for one that failed this time.
        (out / file).unlink(missing_ok=True)
        return None if parts.attempt(part, partial(draw, out / file)) is None else file

    baseline_rows = data.baseline_rows()
    images = {
        "pareto": plot(
            "pareto plot", partial(plots.pareto_plot, data, baseline_rows), "pareto.png"
        ),
        "hypervolume": plot(
            "hypervolume plot", partial(plots.hypervolume_plot, data.progress), "hypervolume.png"
        ),
    }
    profiles: dict[str, list[dict[str, Any]]] = {}
    if data.manifest is not None:
        device = data.config.device
        threads = device.threads if device is not None else 1
        shape = tuple(data.manifest["dataset"]["input_shape"])
        for m in data.models:
            name = m["name"]
            rows = parts.attempt(
                f"per-layer latency of {name}",
                partial(
                    layers.layer_profile,
                    data.path / "export" / m["file"],
                    shape,
                    layer_runs,
                    threads,
                ),
            )
            if rows is None:
                continue
            profiles[name] = rows
            atomic_write_text(out / f"layers-{name}.csv", layers.layers_csv(rows))
            images[f"layers-{name}"] = plot(
                f"per-layer plot of {name}",
                partial(plots.layers_plot, name, rows),
                f"layers-{name}.png",
            )
    content = report_data(data, parts.to_list(), baselines=baselines)
    atomic_write_json(out / "report.json", content)
    page = html.render(data.path.name, content, profiles, images)
    return atomic_write_text(out / "index.html", page)
