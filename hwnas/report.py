"""Reports of a run: Pareto plot, hypervolume curves, exported models, per-layer latency.

:func:`report_run` writes ``runs/<id>/report/``: ``pareto.png`` (every evaluated
candidate, the Pareto front, the budgets, the exported models as measured, and classic
hand-designed networks trained with the same recipe and measured on the same runtime),
``hypervolume.png`` (over evaluations and over time), ``layers-<model>.png`` and ``.csv``
(onnxruntime's per-node profile of each exported model), ``report.json`` (every number)
and ``index.html`` (all of it on one page).
"""

from __future__ import annotations

import html
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
from hwnas.io import atomic_write_json, atomic_write_text

BASELINES = ("lenet5", "mobilenetv2", "resnet8")


def layer_profile(
    path: str | Path, input_shape: tuple[int, ...], runs: int = 50, threads: int = 1
) -> list[dict[str, Any]]:
    """Per-node latency of an ONNX model from onnxruntime's profiler.

    Returns one row per node, slowest first: node name, op type and mean microseconds per
    inference (first run excluded).
    """
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as workdir:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(workdir) / "profile")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((1, *input_shape), dtype=np.float32)
        for _ in range(runs + 1):
            session.run(None, {"input": x})
        trace = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[str, dict[str, Any]] = {}
    for event in trace:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        name = event["name"].removesuffix("_kernel_time")
        row = totals.setdefault(
            name, {"node": name, "op": event.get("args", {}).get("op_name", "?"), "us": []}
        )
        row["us"].append(float(event["dur"]))
    rows = []
    for row in totals.values():
        samples = row.pop("us")[1:] or [0.0]  # the first call includes initialisation
        row["mean_us"] = float(np.mean(samples))
        rows.append(row)
    total = sum(r["mean_us"] for r in rows) or 1.0
    for row in rows:
        row["share"] = row["mean_us"] / total
    return sorted(rows, key=lambda r: -r["mean_us"])


def _short_node(name: str) -> str:
    """``/cells/cells.3/edges.5/edges.5.1/Conv_output_0_nchwc`` -> ``cells.3/edges.5.1/Conv``."""
    name = name.split("_output_")[0].strip("/")
    parts = name.split("/")
    kept = [
        p
        for i, p in enumerate(parts)
        if not (i + 1 < len(parts) and parts[i + 1].startswith(p + "."))
    ]
    return "/".join(kept)[-40:]


def _dominated(point: tuple[float, float], front: list[tuple[float, float]]) -> bool:
    """Whether ``(accuracy, latency)`` is dominated by a point of ``front``."""
    acc, lat = point
    return any(a >= acc and t <= lat and (a > acc or t < lat) for a, t in front)


def _baselines(run: Any, recipe: Any, seed: int, runtime: Any, batch: int) -> list[dict[str, Any]]:
    import torch

    from hwnas.costs import count_costs
    from hwnas.export import measure_latency_ms
    from hwnas.nn.handmade import build_handmade
    from hwnas.train import evaluate, train_model

    dataset = run.components.dataset
    shape = dataset.input_shape
    rows = []
    for name in BASELINES:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_handmade(name, shape, dataset.num_classes)
        result = train_model(model, dataset, recipe, seed=seed, description=name)
        test_accuracy, _ = evaluate(model, dataset.test)
        costs = count_costs(model, shape)
        rows.append(
            {
                "name": name,
                "val_accuracy": result.val_accuracy,
                "test_accuracy": test_accuracy,
                "measured_latency_ms": measure_latency_ms(runtime, model.eval(), shape, batch),
                "macs": costs.macs,
                "params": costs.params,
            }
        )
    return rows


def report_run(run_dir: str | Path, *, baselines: bool = True, layer_runs: int = 50) -> Path:
    """Write the report of ``run_dir``; returns the path of ``index.html``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwnas.export import target_runtime
    from hwnas.runs import open_run
    from hwnas.search import pareto_front
    from hwnas.train import Recipe

    run = open_run(run_dir)
    components = run.components
    with run.store() as store:
        candidates = store.candidates()
        progress = store.progress()
        versions = store.get_meta("versions")
        device = store.get_meta("device_id")
    if not candidates:
        raise HwnasError(f"{run.path}: the run has no evaluated candidate to report")
    manifest_path = run.path / "export" / "manifest.json"
    manifest: dict[str, Any] | None = None
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            raise HwnasError(f"{manifest_path}: corrupted (not JSON); export again") from None
    out = run.path / "report"
    out.mkdir(exist_ok=True)
    objectives = components.objectives
    cost = next((o for o in objectives if o != "error"), "macs")
    done = [c for c in candidates if c.status == "done"]
    front = pareto_front(candidates, objectives, components.search_budgets)

    measured_on = None
    baseline_rows: list[dict[str, Any]] = []
    if baselines and manifest is not None:
        runtime = target_runtime(run.config)
        measured_on = runtime.name
        recipe = Recipe(**manifest["recipe"])
        batch = run.config.device.batch if run.config.device is not None else 1
        baseline_rows = _baselines(run, recipe, manifest["seed"], runtime, batch)

    # -- Pareto plot ----------------------------------------------------------------------
    fig, ax = plt.subplots(figsize=(7.5, 5))
    xs = np.array([c.metrics.get(cost, np.nan) for c in done])
    ys = np.array([c.metrics["accuracy"] for c in done])
    ax.scatter(xs, ys, s=12, c="#bbbbbb", label=f"evaluated ({len(done)}), search estimate")
    if front:
        fx = [c.metrics[cost] for c in front]
        fy = [c.metrics["accuracy"] for c in front]
        ax.step(fx, fy, where="post", c="#1f77b4", lw=1.2)
        ax.scatter(fx, fy, s=25, c="#1f77b4", label=f"Pareto front ({len(front)})")
    exported_points: list[tuple[float, float]] = []
    if manifest is not None:
        key = "measured_latency_ms" if cost == "latency_ms" else cost
        for m in manifest["models"]:
            x = m.get(key) if m.get(key) is not None else m.get("predicted_latency_ms")
            if x is None:
                continue
            exported_points.append((m["test_accuracy"], float(x)))
            ax.scatter(
                [x],
                [m["test_accuracy"]],
                marker="*",
                s=140,
                c="#2ca02c" if m["feasible"] else "#d62728",
                edgecolors="black",
                zorder=5,
            )
        ax.scatter(
            [],
            [],
            marker="*",
            s=140,
            c="#2ca02c",
            edgecolors="black",
            label="exported: test accuracy, measured",
        )
    for b in baseline_rows:
        x = float(b["measured_latency_ms"] if cost == "latency_ms" else b[cost])
        b["dominated"] = _dominated((b["test_accuracy"], x), exported_points)
        ax.scatter(
            [x], [b["test_accuracy"]], marker="^", s=70, c="#ff7f0e", edgecolors="black", zorder=5
        )
        ax.annotate(
            b["name"],
            (x, b["test_accuracy"]),
            textcoords="offset points",
            xytext=(5, -10),
            fontsize=8,
        )
    if baseline_rows:
        ax.scatter(
            [],
            [],
            marker="^",
            s=70,
            c="#ff7f0e",
            edgecolors="black",
            label="hand-designed: test accuracy, measured",
        )
    for budget in components.budgets:
        if budget.metric == cost:
            ax.axvline(budget.bound, ls="--", c="#d62728", lw=1)
        elif budget.metric == "accuracy":
            ax.axhline(budget.bound, ls="--", c="#d62728", lw=1)
    for budget, applied in zip(components.budgets, components.search_budgets, strict=True):
        if applied.bound == budget.bound:
            continue
        # Where the search drew the line (safety margin, accuracy slack): dotted.
        if applied.metric == cost:
            ax.axvline(applied.bound, ls=":", c="#d62728", lw=1)
        elif applied.metric == "accuracy":
            ax.axhline(applied.bound, ls=":", c="#d62728", lw=1)
    ax.set_xlabel(
        {
            "latency_ms": f"latency (ms) on {device or 'device'}",
            "macs": "MACs",
            "params": "parameters",
        }[cost]
    )
    ax.set_ylabel("accuracy")
    ax.set_xscale("log")
    shown = list(ys) + [a for a, _ in exported_points] + [b["test_accuracy"] for b in baseline_rows]
    ax.set_ylim(max(0.0, min(shown) - 0.02) if shown else 0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{run.path.name}: accuracy vs {cost}")
    fig.tight_layout()
    fig.savefig(out / "pareto.png", dpi=120)
    plt.close(fig)

    # -- hypervolume over evaluations and time ------------------------------------------
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    evals = [p["evaluations"] for p in progress]
    hv = [p["hypervolume"] for p in progress]
    secs = [p["seconds"] for p in progress]
    a1.plot(evals, hv, marker="o", ms=3)
    a1.set_xlabel("accuracy evaluations")
    a1.set_ylabel("hypervolume (normalised)")
    a2.plot(secs, hv, marker="o", ms=3)
    a2.set_xlabel("seconds")
    for a in (a1, a2):
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "hypervolume.png", dpi=120)
    plt.close(fig)

    # -- per-layer latency ----------------------------------------------------------------
    layers: dict[str, list[dict[str, Any]]] = {}
    if manifest is not None:
        threads = run.config.device.threads if run.config.device is not None else 1
        shape = tuple(components.dataset.input_shape)
        for m in manifest["models"]:
            rows = layer_profile(run.path / "export" / m["file"], shape, layer_runs, threads)
            layers[m["name"]] = rows
            lines = ["node,op,mean_us,share"] + [
                f"{r['node']},{r['op']},{r['mean_us']:.3f},{r['share']:.4f}" for r in rows
            ]
            atomic_write_text(out / f"layers-{m['name']}.csv", "\n".join(lines) + "\n")
            by_op: dict[str, float] = {}
            for r in rows:
                by_op[r["op"]] = by_op.get(r["op"], 0.0) + r["mean_us"]
            top = rows[:12][::-1]
            fig, (b1, b2) = plt.subplots(1, 2, figsize=(10, 3.6))
            b1.barh(range(len(top)), [r["mean_us"] for r in top])
            b1.set_yticks(range(len(top)), [_short_node(r["node"]) for r in top])
            b1.set_xlabel("µs per inference (slowest nodes)")
            ops = sorted(by_op.items(), key=lambda kv: kv[1])
            b2.barh(range(len(ops)), [v for _, v in ops], color="#ff7f0e")
            b2.set_yticks(range(len(ops)), [k for k, _ in ops])
            b2.set_xlabel("µs per inference, by operator")
            for b in (b1, b2):
                b.tick_params(labelsize=7)
            fig.suptitle(m["name"], fontsize=9)
            fig.tight_layout()
            fig.savefig(out / f"layers-{m['name']}.png", dpi=110)
            plt.close(fig)

    data = {
        "run": str(run.path),
        "objectives": list(objectives),
        "budgets": [str(b) for b in components.budgets],
        "search_budgets": [str(b) for b in components.search_budgets],
        "evaluated": len(done),
        "skipped": sum(1 for c in candidates if c.status == "skipped"),
        "failed": sum(1 for c in candidates if c.status == "failed"),
        "pareto": [c.to_dict() for c in front],
        "hypervolume": progress,
        "exported": manifest["models"] if manifest else [],
        "baselines": baseline_rows,
        "baselines_measured_on": measured_on,
        "versions": versions,
    }
    if manifest:
        gaps = [m["val_accuracy"] - m["test_accuracy"] for m in manifest["models"]]
        data["val_test_gap"] = {"mean": float(np.mean(gaps)), "max": float(np.max(gaps))}
    atomic_write_json(out / "report.json", data)
    page = _html(run.path.name, data, layers)
    atomic_write_text(out / "index.html", page)
    return out / "index.html"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _html(name: str, data: dict[str, Any], layers: dict[str, list[dict[str, Any]]]) -> str:
    parts = [
        f"<h1>hwnas report: {html.escape(name)}</h1>",
        f"<p>Objectives: {', '.join(data['objectives'])}; budgets: "
        f"{html.escape(', '.join(data['budgets']) or 'none')}"
        + (
            f" (applied by the search, with the safety margin and accuracy slack: "
            f"{html.escape(', '.join(data['search_budgets']))})"
            if data.get("search_budgets", data["budgets"]) != data["budgets"]
            else ""
        )
        + f". Evaluated {data['evaluated']}, "
        f"skipped on cheap budgets {data['skipped']}, failed {data['failed']}.</p>",
        '<img src="pareto.png" alt="Pareto plot"><img src="hypervolume.png" alt="hypervolume">',
    ]
    if data["exported"]:
        parts.append("<h2>Exported models</h2>")
        parts.append(
            _table(
                [
                    "model",
                    "val acc",
                    "test acc",
                    "search acc",
                    "predicted ms",
                    "measured ms",
                    "MACs",
                    "params",
                    "feasible",
                    "search rank",
                    "Pareto (trained)",
                    "file",
                ],
                [
                    [
                        m["name"],
                        _fmt(m["val_accuracy"]),
                        _fmt(m["test_accuracy"]),
                        _fmt(m["search_accuracy"]),
                        _fmt(m["predicted_latency_ms"]),
                        _fmt(m["measured_latency_ms"]),
                        m["macs"],
                        m["params"],
                        "yes" if m["feasible"] else "NO: " + "; ".join(m["broken_budgets"]),
                        m.get("search_rank", 0),
                        "yes" if m.get("pareto") else "no",
                        m["file"],
                    ]
                    for m in data["exported"]
                ],
            )
        )
        gap = data.get("val_test_gap")
        if gap:
            parts.append(
                f"<p>Validation minus test accuracy (overfitting to the search): "
                f"mean {gap['mean']:+.4f}, max {gap['max']:+.4f}.</p>"
            )
    if data["baselines"]:
        parts.append("<h2>Against hand-designed networks</h2>")
        parts.append(
            _table(
                [
                    "network",
                    "val acc",
                    "test acc",
                    "measured ms",
                    "MACs",
                    "params",
                    "dominated by the exported Pareto set",
                ],
                [
                    [
                        b["name"],
                        _fmt(b["val_accuracy"]),
                        _fmt(b["test_accuracy"]),
                        _fmt(b["measured_latency_ms"]),
                        b["macs"],
                        b["params"],
                        "yes" if b.get("dominated") else "no",
                    ]
                    for b in data["baselines"]
                ],
            )
        )
    for model, rows in layers.items():
        parts.append(f"<h2>Per-layer latency: {html.escape(model)}</h2>")
        parts.append(f'<img src="layers-{html.escape(model)}.png" alt="layers">')
        parts.append(
            _table(
                ["node", "op", "µs", "share"],
                [
                    [r["node"], r["op"], _fmt(r["mean_us"], 2), f"{100 * r['share']:.1f} %"]
                    for r in rows[:15]
                ],
            )
        )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse;font-size:13px;margin:8px 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )
