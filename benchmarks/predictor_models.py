"""The latency models of ``auto`` compared on every profile shipped in ``profiles/``.

For each shipped predictor (``predictors/<device-id>/<name>.json``) and its profile
(``profiles/<device-id>/<name>.jsonl``), in the predictor's space and with its feature
blocks, :func:`hwnas.predictors.fit_profile` is run with ``model="auto"`` for each seed:
20 % of the architectures held out, the model chosen by 5-fold cross-validation on the
rest. Reported per profile: each model's cross-validated mean absolute log error (MALE)
and share within +-10 %, the model chosen, and its held-out figures; overall, each model's
MALE relative to ``lut`` (mean and worst over profiles and seeds).

Writes ``benchmarks/results/predictor_models.json`` and ``predictor_models.md``. Fitting
only (no measurement), single-threaded, about 4 minutes on this project's 2-core VM::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/predictor_models.py
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwnas import __version__
from hwnas.io import atomic_write_json, atomic_write_text
from hwnas.predictors import fit_profile, load_predictor

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def shipped_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(predictor, profile) pairs of the latency predictors shipped under ``root``."""
    pairs = []
    for predictor in sorted((root / "predictors").glob("*/*.json")):
        profile = root / "profiles" / predictor.parent.name / f"{predictor.stem}.jsonl"
        if profile.is_file():
            pairs.append((predictor, profile))
    return pairs


def compare(predictor_path: Path, profile: Path, seed: int) -> dict[str, Any]:
    """``auto`` on ``profile`` in the space and features of ``predictor_path``."""
    shipped = load_predictor(predictor_path)
    started = time.perf_counter()
    _, metrics = fit_profile(
        profile,
        model="auto",
        seed=seed,
        space=shipped.space(),
        features=list(shipped.features_.blocks),
    )
    held_out = metrics["held_out"] or {}
    return {
        "profile": str(profile.relative_to(ROOT)),
        "seed": seed,
        "n_train": metrics["n_train"],
        "n_test": metrics["n_test"],
        "chosen": metrics["model"],
        "held_out_within_10pct": held_out.get("within_10pct"),
        "held_out_mape": held_out.get("mape"),
        "cv": {
            name: {"male": s["male"], "within_10pct": s["within_10pct"]}
            for name, s in metrics["cv_scores"].items()
        },
        "seconds": time.perf_counter() - started,
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each model's MALE over ``lut``'s: mean and worst over the rows."""
    models = sorted({m for row in rows for m in row["cv"]})
    out = {}
    for model in models:
        ratios = [
            row["cv"][model]["male"] / row["cv"]["lut"]["male"]
            for row in rows
            if model in row["cv"]
        ]
        out[model] = {
            "mean_ratio_to_lut": float(np.mean(ratios)),
            "worst_ratio_to_lut": float(np.max(ratios)),
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    models = sorted(result["summary"], key=lambda m: result["summary"][m]["mean_ratio_to_lut"])
    lines = [
        "# Latency models compared on the shipped profiles",
        "",
        f"`{result['command']}` ({result['machine']}, hwnas {result['hwnas']}, "
        f"{result['seconds']:.0f} s). Cross-validated (5 folds) mean absolute log error on "
        "the 80 % of architectures a fit sees; the chosen model's share within ±10 % on the "
        "20 % held out.",
        "",
        "| profile | seed | records | " + " | ".join(models) + " | chosen | held-out ±10 % |",
        "|---|---|---|" + "---|" * len(models) + "---|---|",
    ]
    for row in rows:
        cells = [f"{row['cv'][m]['male']:.4f}" if m in row["cv"] else "-" for m in models]
        lines.append(
            f"| `{row['profile']}` | {row['seed']} | {row['n_train'] + row['n_test']} | "
            + " | ".join(cells)
            + f" | {row['chosen']} | {row['held_out_within_10pct']:.1%} |"
        )
    lines += ["", "MALE relative to `lut` (mean, worst over the rows above):", ""]
    for m in models:
        s = result["summary"][m]
        lines.append(
            f"- `{m}`: {s['mean_ratio_to_lut']:.2f}x mean, {s['worst_ratio_to_lut']:.2f}x worst"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="fold and split seeds 0..n-1")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for predictor, profile in shipped_pairs(ROOT):
        for seed in range(args.seeds):
            row = compare(predictor, profile, seed)
            print(
                f"{row['profile']} seed {seed}: {row['chosen']} ({row['seconds']:.0f} s)",
                flush=True,
            )
            rows.append(row)
    result = {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/predictor_models.py",
        "hwnas": __version__,
        "machine": platform.platform(),
        "seconds": time.perf_counter() - started,
        "rows": rows,
        "summary": summarise(rows),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "predictor_models.json", result)
    atomic_write_text(RESULTS / "predictor_models.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
