"""Files export reads and writes beside the run: the manifest and the predictor's calibration.

``runs/<id>/export/manifest.json`` is export's record (:func:`load_manifest`).
``runs/<id>/calibration.json`` is written by the run when it checks its latency predictor
against this machine (issue 11); export copies its summary into the manifest and the
report shows it (:func:`load_calibration`, :func:`calibration_text`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError

#: The per-point detail of ``calibration.json``, left out of the manifest's summary.
CALIBRATION_DETAIL = ("archs", "measured_ms", "predicted_ms", "after_points")


def _read(path: Path, again: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HwnasError(f"{path}: corrupted (not JSON); {again}") from None
    if not isinstance(data, dict):
        raise HwnasError(
            f"{path}: corrupted (a JSON {type(data).__name__}, not an object); {again}"
        )
    return data


def _manifest_problem(data: dict[str, Any]) -> str | None:
    """What a manifest lacks that the report, the baselines and a resumed run read."""
    models = data.get("models")
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        return "'models': a list of objects"
    for i, model in enumerate(models):
        for key in ("name", "file"):
            if not isinstance(model.get(key), str):
                return f"models[{i}].{key}: a string"
        for key in ("val_accuracy", "test_accuracy", "measured_latency_ms", "predicted_latency_ms"):
            value = model.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                return f"models[{i}].{key}: a number"
        if not isinstance(model.get("feasible"), bool):
            return f"models[{i}].feasible: true or false"
    return None


def load_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """``runs/<id>/export/manifest.json``, or ``None`` when the run was not exported.

    Raises:
        HwnasError: The manifest is not JSON, or not of the shape export writes.
    """
    path = Path(run_dir) / "export" / "manifest.json"
    data = _read(path, "export again")
    problem = None if data is None else _manifest_problem(data)
    if problem is not None:
        raise HwnasError(f"{path}: not an export manifest (expected {problem}); export again")
    return data


def load_calibration(run_dir: str | Path) -> dict[str, Any] | None:
    """The summary of ``runs/<id>/calibration.json`` (``checked``, ``reason``, ``runtime``,
    ``device_id``, ``predictor``, ``points``, ``action``, ``before``, ``after``...; the
    per-point lists left out), or ``None`` when the run recorded no calibration.

    Raises:
        HwnasError: The file is not JSON.
    """
    from hwnas.profiling.calibration import CALIBRATION_FILE

    data = _read(Path(run_dir) / CALIBRATION_FILE, "run the calibration again")
    if data is None:
        return None
    return {key: value for key, value in data.items() if key not in CALIBRATION_DETAIL}


def calibration_text(calibration: dict[str, Any] | None) -> str:
    """One line saying what the calibration found, for the report and the CLI."""
    if calibration is None:
        return "calibration: not recorded"
    if not calibration.get("checked"):
        return f"latency predictor not checked: {calibration.get('reason') or 'no reason given'}"
    before = calibration.get("before") or {}
    after = calibration.get("after")
    text = (
        f"latency predictor checked on {calibration.get('points')} points on "
        f"{calibration.get('runtime')}: measured/predicted ratio {_num(before.get('ratio'))}, "
        f"{_pct(before.get('within_10pct'))} within ±10 %, Spearman "
        f"{_num(before.get('spearman'))} before"
    )
    action = calibration.get("action")
    judged = (calibration.get("judged") or {}).get(
        "rescaled" if action == "rescale" else "refitted"
    )
    if after and judged:
        # Rescale and re-profile compared on more points than the fresh ones: the figure
        # the choice was made on, as the detail says it.
        text += (
            f"; {_pct(judged.get('within_10pct'))} of {judged.get('points')} held-out points "
            f"within ±10 % after ({action}, kept over the "
            f"{'re-profile' if action == 'rescale' else 'rescale'})"
        )
    elif after:
        text += f"; {_pct(after.get('within_10pct'))} within ±10 % after ({action})"
    if after:
        if calibration.get("passed") is False:
            text += ", still off beyond tolerance"
    elif action == "scale":
        text += "; predictions scaled by the median ratio"
    elif action and action != "none":
        text += f"; action: {action}"
    elif calibration.get("passed") is False:
        text += "; not corrected"  # a check only (hwnas predict --check)
    else:
        text += "; no correction needed"
    return text


#: A spread of the machine's speed (``p90_over_p10``) from which a timing taken at one
#: moment is said to differ from the figures.
SPEED_SPREAD_WARN = 1.1


def speed_text(speed: dict[str, Any] | None) -> str:
    """One line saying how far the machine's speed moved while the exporting process
    measured (in ``hwnas run`` the calibration's measurements too; the manifest's
    ``speed``, :meth:`hwnas.profiling.drift.SpeedReference.spread`); empty when not
    recorded."""
    if not speed or not speed.get("p90_over_p10"):
        return ""
    ratio = float(speed["p90_over_p10"])
    text = (
        f"latency figures are at this machine's typical speed while this process measured "
        f"(anchor model {speed['anchor_level_ms']:.4g} ms); its speed moved: the anchor's "
        "medians over "
        f"{speed['windows']} windows of a few calls spanned {speed['anchor_p10_ms']:.4g}-"
        f"{speed['anchor_p90_ms']:.4g} ms (10th-90th percentile, {ratio:.2f}x)"
    )
    if ratio >= SPEED_SPREAD_WARN:
        text += (
            ", so one timing taken at one moment (by another tool) can differ from these "
            "figures by about as much"
        )
    return text


def _num(value: Any) -> str:
    return "?" if value is None else f"{float(value):.2f}"


def _pct(value: Any) -> str:
    return "?" if value is None else f"{100 * float(value):.0f} %"
