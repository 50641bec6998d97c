"""The report's ``index.html``: one page with the plots and tables of ``report.json``."""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from typing import Any

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto}"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}"
    ".failed{color:#b00020}"
)


def render(
    name: str,
    data: dict[str, Any],
    layers: dict[str, list[dict[str, Any]]],
    images: dict[str, str | None],
) -> str:
    """The page.

    Args:
        name: The run's name.
        data: The content of ``report.json``.
        layers: Per-node rows of each exported model that was profiled.
        images: File name of each plot (``pareto``, ``hypervolume``, ``layers-<model>``),
            ``None`` where the plot failed.
    """
    parts = [
        f"<h1>hwnas report: {html.escape(name)}</h1>",
        _summary(data),
        f"<p>{html.escape(_calibration(data))}</p>",
        _speed(data),
        _image(images, "pareto", "Pareto plot"),
        _image(images, "hypervolume", "hypervolume"),
    ]
    if data["exported"]:
        parts += _exported(data)
    elif not data["pareto"]:
        parts.append(
            "<p class='failed'>Nothing exported: no evaluated candidate met every budget "
            "(the plot shows how close they came). Train the estimates longer, evaluate "
            "more candidates or loosen the budgets.</p>"
        )
    else:
        parts.append(
            "<p>Not exported yet: <code>hwnas export RUN</code> trains, exports and "
            "measures the search's front.</p>"
        )
    if data.get("baselines_status") != "not shown":
        parts += _baselines(data)
    measured = {m["name"]: m.get("measured_latency_ms") for m in data["exported"]}
    for model, rows in layers.items():
        parts.append(f"<h2>Per-layer latency: {html.escape(model)}</h2>")
        parts.append(_image(images, f"layers-{model}", "layers"))
        parts.append(f"<p>{html.escape(_layers_note(rows, measured.get(model)))}</p>")
        parts.append(
            _table(
                ["node", "op", "µs", "share"],
                [
                    [r["node"], r["op"], _fmt(r["median_us"], 2), f"{100 * r['share']:.1f} %"]
                    for r in rows[:15]
                ],
            )
        )
    if data["failures"]:
        parts.append("<h2 class='failed'>Parts that failed</h2>")
        parts.append(
            "<p>These parts failed and were left out; the rest of the run and of this report "
            "went on.</p>"
        )
        parts.append(
            _table(
                ["step", "part", "error"],
                [[f["source"], f["part"], f["error"]] for f in data["failures"]],
            )
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}"
        f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def _summary(data: dict[str, Any]) -> str:
    applied = ""
    if data.get("search_budgets", data["budgets"]) != data["budgets"]:
        applied = (
            f" (applied by the search, with the safety margin and accuracy slack: "
            f"{html.escape(', '.join(data['search_budgets']))})"
        )
    return (
        f"<p>Objectives: {', '.join(data['objectives'])}; budgets: "
        f"{html.escape(', '.join(data['budgets']) or 'none')}{applied}. "
        f"Evaluated {data['evaluated']}, skipped on cheap budgets {data['skipped']}, "
        f"failed {data['failed']}.</p>"
    )


def _calibration(data: dict[str, Any]) -> str:
    from hwnas.export import calibration_text

    return calibration_text(data.get("calibration"))


def _layers_note(rows: list[dict[str, Any]], measured_ms: float | None) -> str:
    """What the per-node times are, and how their sum compares with the model's latency."""
    total_us = sum(float(r["median_us"]) for r in rows)
    text = (
        "Per node, onnxruntime's profiler (median over the runs; it counts whole "
        f"microseconds and adds its own cost to every node): {len(rows)} nodes, "
        f"{total_us:.0f} µs in all"
    )
    if measured_ms:
        ratio = total_us / (1000 * measured_ms)
        text += f", against {1000 * measured_ms:.1f} µs measured for the whole model"
        if ratio > 1.25:
            text += (
                f" ({ratio:.1f}x: with many small nodes the profiler's rounding and overhead "
                "dominate; read the shares as an order of the nodes, not as times)"
            )
    return text + "."


def _speed(data: dict[str, Any]) -> str:
    from hwnas.export import speed_text

    text = speed_text(data.get("speed"))
    return f"<p>{html.escape(text[0].upper() + text[1:])}.</p>" if text else ""


def _selection(data: dict[str, Any]) -> str:
    selection = data.get("selection")
    if not selection:
        return ""
    if selection["selection"] == "measured":
        return (
            f"Chosen on latency measured here before training: "
            f"{selection['candidates_measured']} candidates measured, "
            f"{selection['candidates_rejected']} over a latency ceiling and left out."
        )
    basis = "predicted latency" if selection["selection"] == "predicted" else "search figures"
    return f"Chosen on the search's {basis} ({selection['selection_reason']})."


def _image(images: dict[str, str | None], key: str, alt: str) -> str:
    file = images.get(key)
    if file is None:
        return f"<p class='failed'>The {html.escape(key)} plot failed (see below).</p>"
    return f'<img src="{html.escape(file)}" alt="{html.escape(alt)}">'


Column = tuple[str, Callable[[dict[str, Any]], Any]]


def _plain(*pairs: tuple[str, str]) -> list[Column]:
    """Columns that show one field each, formatted by :func:`_fmt`: ``(header, key)``."""
    return [(header, partial(_field, key=key)) for header, key in pairs]


def _field(row: dict[str, Any], key: str) -> str:
    return _fmt(row.get(key))


def _accuracy(row: dict[str, Any], split: str) -> str:
    """An accuracy with its interval: ``0.9833 [0.9640, 0.9915]``."""
    value, ci = row.get(f"{split}_accuracy"), row.get(f"{split}_accuracy_ci")
    if value is None or not ci:
        return _fmt(value)
    return f"{value:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]"


def _deploy(m: dict[str, Any]) -> str:
    """The deployed variant and why; a reason for a variant already starts with its name
    (``int8: 1.52x faster than fp32 ...``), one for fp32 tells about the variants."""
    deploy, reason = m.get("deploy", "fp32"), m.get("deploy_reason", "no variant made")
    return reason if reason.startswith(f"{deploy}:") else f"{deploy}: {reason}"


def _deploy_file(m: dict[str, Any]) -> str:
    """The file to deploy (``model.int8.onnx`` when int8 is deployed); manifests written
    before variants existed have only the fp32 ``file``."""
    return str(m.get("deploy_file") or m.get("file") or "-")


#: The columns of the exported models' table: header and cell of a manifest entry.
EXPORTED_COLUMNS: list[Column] = [
    *_plain(("model", "name")),
    ("val acc [95 % CI]", partial(_accuracy, split="val")),
    ("test acc [95 % CI]", partial(_accuracy, split="test")),
    *_plain(
        ("search acc", "search_accuracy"),
        ("search's prediction ms", "search_predicted_latency_ms"),
        ("predicted ms (pool bias out)", "predicted_latency_ms"),
        ("ms at selection", "selection_latency_ms"),
        ("measured ms", "measured_latency_ms"),
        ("MACs", "macs"),
        ("params", "params"),
    ),
    ("feasible", lambda m: "yes" if m["feasible"] else "NO: " + "; ".join(m["broken_budgets"])),
    ("search rank", lambda m: m.get("search_rank", 0)),
    ("Pareto (trained)", lambda m: "yes" if m.get("pareto") else "no"),
    ("deploy", _deploy),
    ("file", _deploy_file),
]

#: The columns of the hand-designed networks' table (a row of ``baselines.json``).
BASELINE_COLUMNS: list[Column] = [
    *_plain(("network", "name")),
    ("val acc [95 % CI]", partial(_accuracy, split="val")),
    ("test acc [95 % CI]", partial(_accuracy, split="test")),
    *_plain(("measured ms", "measured_latency_ms"), ("MACs", "macs"), ("params", "params")),
    ("dominated by the exported models", lambda b: _verdict(b, "dominated_by", "dominated")),
    ("dominates exported models", lambda b: _verdict(b, "dominates", "dominates")),
    ("same network as", lambda b: ", ".join(b.get("same_network") or [])),
    ("failed part", lambda b: b.get("error") or ""),
]


def _exported(data: dict[str, Any]) -> list[str]:
    parts = ["<h2>Exported models</h2>"]
    if _selection(data):
        parts.append(f"<p>{html.escape(_selection(data))}</p>")
    parts.append(_columns(EXPORTED_COLUMNS, data["exported"]))
    parts.append(
        "<p>Accuracies with a Wilson 95 % interval over the split's "
        f"{data.get('split_sizes', {}).get('test', '?')} test samples.</p>"
    )
    gap = data.get("val_test_gap")
    if gap:
        parts.append(
            f"<p>Validation minus test accuracy (overfitting to the search): "
            f"mean {gap['mean']:+.4f}, max {gap['max']:+.4f}.</p>"
        )
    return parts


def _baselines(data: dict[str, Any]) -> list[str]:
    title = "<h2>Against hand-designed networks</h2>"
    if data["baselines_status"] == "not run":
        return [
            title,
            "<p>Baselines not run (<code>hwnas baselines RUN</code> trains, exports and "
            "measures them with the export's recipe).</p>",
        ]
    return [title, _columns(BASELINE_COLUMNS, data["baselines"])]


def _verdict(row: dict[str, Any], names: str, verdict: str) -> str:
    """``no``, or ``yes: model names``, saying when the accuracy intervals overlap."""
    if row.get("dominated") is None:
        return "unknown (not measured)"
    models = row.get(names) or []
    if not models:
        return "no"
    noise = " (within noise: test-accuracy intervals overlap)"
    return f"yes: {', '.join(models)}" + (noise if row.get(f"{verdict}_within_noise") else "")


def _columns(columns: list[Column], items: list[dict[str, Any]]) -> str:
    return _table([h for h, _ in columns], [[cell(item) for _, cell in columns] for item in items])


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
