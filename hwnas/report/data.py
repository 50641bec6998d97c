"""The numbers of a report, read from a run folder: store, manifest, baselines, calibration.

Nothing here trains or measures: :func:`gather` reads ``run.db``,
``export/manifest.json``, ``export/baselines.json`` and ``calibration.json`` (each as far
as it exists), and :func:`report_data` turns them into ``report.json``, with a Wilson
interval for each accuracy (:mod:`hwnas.report.noise`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.report.noise import CONFIDENCE, dominates, overlap, wilson_interval

#: The axis label of each cost objective.
COST_LABELS = {"latency_ms": "latency (ms)", "macs": "MACs", "params": "parameters"}


@dataclass
class RunData:
    """What a report shows, as read from the run folder.

    Attributes:
        path: The run folder.
        config: The run's validated config.
        objectives: The run's objectives; ``cost`` is the first that is not ``error``.
        budgets: The budgets as written; ``search_budgets`` as the search applied them.
        candidates: Every candidate of the store; ``done`` the evaluated ones and ``front``
            the feasible non-dominated ones.
        progress: The store's hypervolume progress rows.
        versions: Library versions the run recorded.
        device: The run's device id.
        manifest: The export's manifest, ``None`` before an export.
        baselines: ``export/baselines.json``, ``None`` when the baselines were not run.
        sizes: Images in the ``val`` and ``test`` splits (for the accuracy intervals).
        calibration: The summary of ``calibration.json``, ``None`` when not recorded.
        space: The run's search space (to tell when a network is an exported model).
    """

    path: Path
    config: Any
    objectives: tuple[str, ...]
    cost: str
    budgets: tuple[Any, ...]
    search_budgets: tuple[Any, ...]
    candidates: list[Any]
    done: list[Any]
    front: list[Any]
    progress: list[dict[str, Any]]
    versions: Any
    device: str | None
    manifest: dict[str, Any] | None
    baselines: dict[str, Any] | None
    sizes: dict[str, int]
    calibration: dict[str, Any] | None
    space: Any = None

    @property
    def models(self) -> list[dict[str, Any]]:
        """The exported models (none before an export)."""
        return self.manifest["models"] if self.manifest else []

    def exported_point(self, model: dict[str, Any]) -> tuple[float, float] | None:
        """``(test accuracy, cost)`` of an exported model as measured (predicted latency
        where not measured), or ``None`` when it has no such cost."""
        key = "measured_latency_ms" if self.cost == "latency_ms" else self.cost
        x = model.get(key) if model.get(key) is not None else model.get("predicted_latency_ms")
        return None if x is None else (float(model["test_accuracy"]), float(x))

    def intervals(self, row: dict[str, Any]) -> dict[str, tuple[float, float] | None]:
        """``val_accuracy_ci`` and ``test_accuracy_ci`` of a model or network row (Wilson,
        95 %; ``None`` where the accuracy is missing)."""
        out = {}
        for split in ("val", "test"):
            accuracy = row.get(f"{split}_accuracy")
            out[f"{split}_accuracy_ci"] = (
                None if accuracy is None else wilson_interval(accuracy, self.sizes[split])
            )
        return out

    def exported_rows(self) -> list[dict[str, Any]]:
        """The exported models with their accuracy intervals."""
        return [{**m, **self.intervals(m)} for m in self.models]

    def baseline_rows(self) -> list[dict[str, Any]]:
        """The hand-designed networks of ``baselines.json`` with their accuracy intervals
        and how they compare with the exported models on test accuracy and cost.

        Each row has ``dominated`` (an exported model has at least its test accuracy and
        at most its cost, better in one; ``None`` where the network has no accuracy or
        cost), ``dominated_by`` (those models' names), ``dominates`` (the exported models
        it dominates) and, for each verdict, ``..._within_noise``: every model of the
        verdict has a test-accuracy interval that overlaps the network's, so the
        accuracy side of the claim is not shown by the data. ``same_network`` lists the
        exported models that are this very network (the search may start from the
        baselines): they are left out of both verdicts, as two measurements of one
        network differ only by noise.
        """
        if self.baselines is None:
            return []
        exported = [
            (m, p, self.intervals(m))
            for m in self.models
            if (p := self.exported_point(m)) is not None
        ]
        rows = []
        for b in self.baselines.get("baselines", []):
            point, ci = baseline_point(b, self.cost), self.intervals(b)
            row: dict[str, Any] = {**b, **ci, "dominated": None, "dominated_by": []}
            row.update(dominated_within_noise=None, dominates=[], dominates_within_noise=None)
            key = self.network_key(b.get("arch"))
            same = [m for m, _, _ in exported if key and self.network_key(m["arch"]) == key]
            row["same_network"] = [m["name"] for m in same]
            others = [(m, p, c) for m, p, c in exported if not any(m is s for s in same)]
            if point is not None:
                above = [(m, c) for m, p, c in others if dominates(p, point)]
                below = [(m, c) for m, p, c in others if dominates(point, p)]
                for key, models in (("dominated_by", above), ("dominates", below)):
                    row[key] = [m["name"] for m, _ in models]
                    noise = all(
                        overlap(c["test_accuracy_ci"], ci["test_accuracy_ci"]) for _, c in models
                    )
                    verdict = "dominated" if key == "dominated_by" else "dominates"
                    row[f"{verdict}_within_noise"] = bool(models) and noise
                row["dominated"] = bool(above)
            rows.append(row)
        return rows

    def network_key(self, arch: Any) -> str | None:
        """The space's key of the network ``arch`` (a string), ``None`` when it is not an
        architecture of the run's space."""
        if self.space is None or not isinstance(arch, str):
            return None
        try:
            return str(self.space.network_key(self.space.parse(arch)))
        except (ValueError, HwnasError):
            return None


def baseline_point(row: dict[str, Any], cost: str) -> tuple[float, float] | None:
    """``(test accuracy, cost)`` of a hand-designed network, ``None`` where missing."""
    x = row.get("measured_latency_ms" if cost == "latency_ms" else cost)
    accuracy = row.get("test_accuracy")
    return None if x is None or accuracy is None else (float(accuracy), float(x))


def gather(run_dir: str | Path, *, baselines: bool = True) -> RunData:
    """Read everything a report shows from ``run_dir``.

    Args:
        run_dir: A run folder (``runs/<id>``).
        baselines: Read ``export/baselines.json`` (when present).

    Raises:
        HwnasError: A missing or corrupted run folder, manifest or baselines file, or a
            run without any evaluated candidate.
    """
    from hwnas.baselines import BASELINES_FILE
    from hwnas.export import load_calibration, load_manifest
    from hwnas.pareto import pareto_front
    from hwnas.runs import open_run

    run = open_run(run_dir, need_data=False)  # a report reads the run: no sample needed
    components = run.components
    with run.store() as store:
        candidates = store.candidates()
        progress = store.progress()
        versions = store.get_meta("versions")
        device = store.get_meta("device_id")
    if not candidates:
        raise HwnasError(f"{run.path}: the run has no evaluated candidate to report")
    objectives = tuple(components.objectives)
    baselines_path = run.path / "export" / BASELINES_FILE
    return RunData(
        path=run.path,
        config=run.config,
        objectives=objectives,
        cost=next((o for o in objectives if o != "error"), "macs"),
        budgets=tuple(components.budgets),
        search_budgets=tuple(components.search_budgets),
        candidates=candidates,
        done=[c for c in candidates if c.status == "done"],
        front=pareto_front(candidates, objectives, components.search_budgets),
        progress=progress,
        versions=versions,
        device=device,
        manifest=load_manifest(run.path),
        baselines=_read_json(baselines_path) if baselines and baselines_path.is_file() else None,
        sizes={k: components.dataset.sizes[k] for k in ("val", "test")},
        calibration=load_calibration(run.path),
        space=components.space,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise HwnasError(f"{path}: corrupted (not JSON); run it again") from None
    return data


def report_data(
    data: RunData, failures: list[dict[str, str]], *, baselines: bool = True
) -> dict[str, Any]:
    """The content of ``report.json``.

    ``failures`` are the report's own failed parts; the export's and the baselines' are
    added (each ``part`` and ``error``, with ``source``: ``export``, ``baselines`` or
    ``report``).
    """
    if not baselines:
        status = "not shown"
    elif data.baselines is None:
        status = "not run"
    else:
        status = "done"
    out: dict[str, Any] = {
        "run": str(data.path),
        "objectives": list(data.objectives),
        "budgets": [str(b) for b in data.budgets],
        "search_budgets": [str(b) for b in data.search_budgets],
        "evaluated": len(data.done),
        "skipped": sum(1 for c in data.candidates if c.status == "skipped"),
        "failed": sum(1 for c in data.candidates if c.status == "failed"),
        "pareto": [c.to_dict() for c in data.front],
        "hypervolume": data.progress,
        "exported": data.exported_rows(),
        "confidence": CONFIDENCE,
        "split_sizes": data.sizes,
        "selection": _selection(data.manifest),
        "calibration": data.calibration,
        "speed": (data.manifest or {}).get("speed"),
        "baselines": data.baseline_rows(),
        "baselines_status": status,
        "baselines_measured_on": (data.baselines or {}).get("measured_on"),
        "versions": data.versions,
        "failures": [
            *({"source": "export", **f} for f in (data.manifest or {}).get("failures", [])),
            *({"source": "baselines", **f} for f in (data.baselines or {}).get("failures", [])),
            *({"source": "report", **f} for f in failures),
        ],
    }
    if data.models:
        gaps = [m["val_accuracy"] - m["test_accuracy"] for m in data.models]
        out["val_test_gap"] = {"mean": float(np.mean(gaps)), "max": float(np.max(gaps))}
    return out


def _selection(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """How export chose its models (``None`` before an export; manifests written before
    export measured its candidates say nothing, and are shown as ``predicted``)."""
    if manifest is None:
        return None
    return {
        "selection": manifest.get("selection", "predicted"),
        "selection_reason": manifest.get("selection_reason", "not recorded"),
        "candidates_measured": manifest.get("candidates_measured", 0),
        "candidates_rejected": manifest.get("candidates_rejected", 0),
    }
