"""Hand-designed networks trained, exported and measured beside a run's exported models.

:func:`run_baselines` trains the classic networks (LeNet-5-like, a small MobileNetV2,
ResNet-8) with the recipe and seed the run's export used. Each is built as an architecture
of the run's space when the space has it (its ``baselines()``: ``convnet`` has all three),
so the search could have found it; otherwise as :mod:`hwnas.nn.handmade` builds it. Each
row says which (``built_from``, ``arch``). Each network is exported to ONNX (checked, and
compared with PyTorch like the exported models) and measured on the run's runtime with the
same protocol; :func:`run_baselines` writes ``runs/<id>/export/baselines.json``, which the
report reads. Building, training,
exporting and measuring each network are separate parts: one that fails (a network that
cannot be built or exported for this input) is recorded with its error, and the others go on.

Text (token ids) gets its own networks, :data:`TEXT_BASELINES`: the 2-layer, 128-wide
encoder (an architecture of the ``transformer`` space) and a 1-D token CNN. A network
for the other kind of input is not attempted: ``baselines.json`` lists it under
``skipped`` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwnas.io import atomic_write_json
from hwnas.parts import Parts

if TYPE_CHECKING:
    from torch import nn

    from hwnas.data import Dataset
    from hwnas.spaces.base import SearchSpace
    from hwnas.train import Recipe

#: The hand-designed networks compared with every run on images, in report order.
BASELINES = ("lenet5", "mobilenetv2", "resnet8")
#: The hand-designed networks compared with every run on text (token ids), in report order.
TEXT_BASELINES = ("encoder-2x128", "textcnn")
BASELINES_FILE = "baselines.json"
#: The numbers of a row, ``None`` until the part that gives them has run.
_FIELDS = (
    "file",
    "val_accuracy",
    "test_accuracy",
    "measured_latency_ms",
    "macs",
    "params",
    "max_abs_diff",
    "train_seconds",
)
#: ``built_from`` of a network built by :mod:`hwnas.nn.handmade`.
HANDMADE = "handmade"


def default_baselines(input_shape: Sequence[int]) -> tuple[str, ...]:
    """:data:`TEXT_BASELINES` for token ids ``(L,)``, :data:`BASELINES` for images."""
    return TEXT_BASELINES if len(input_shape) == 1 else BASELINES


def fitting_baselines(
    names: Sequence[str], input_shape: Sequence[int]
) -> tuple[list[str], list[dict[str, str]]]:
    """``names`` split into the networks that read ``input_shape``'s kind of input and
    the others (``name`` and ``reason``: not attempted). Unknown names are kept: building
    them fails and says so."""
    from hwnas.nn.handmade import HANDMADE, reads_tokens

    tokens = len(input_shape) == 1
    kept, skipped = [], []
    for name in names:
        if name in HANDMADE and reads_tokens(name) != tokens:
            reads = "token ids" if reads_tokens(name) else "images"
            data = "token ids" if tokens else "images"
            skipped.append({"name": name, "reason": f"reads {reads}; the data is {data}"})
        else:
            kept.append(name)
    return kept, skipped


def space_baselines(space: SearchSpace | None) -> dict[str, str]:
    """The hand-designed networks that are architectures of ``space``: ``{name: arch
    string}`` (none without a space)."""
    return {} if space is None else dict(space.baselines())


def train_baselines(
    dataset: Dataset,
    recipe: Recipe,
    out_dir: str | Path,
    *,
    seed: int = 0,
    names: Sequence[str] | None = None,
    space: SearchSpace | None = None,
    runtime: Any = None,
    batch: int = 1,
    opset: int = 17,
    protocol: Mapping[str, Any] | None = None,
    parts: Parts | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Build, train, export and measure each hand-designed network in ``names``.

    Args:
        dataset: The dataset (the test split is read once per network, for its report).
        recipe: The training recipe.
        out_dir: Where ``<name>.onnx`` files go.
        seed: Seeds the weights and the training.
        names: Networks of :data:`hwnas.nn.handmade.HANDMADE` (default:
            :func:`default_baselines` of the dataset's input).
        space: The run's search space: networks that are its architectures
            (:func:`space_baselines`) are built from it, the others by
            :mod:`hwnas.nn.handmade`.
        runtime: Measure latency on this runtime; not measured when ``None``.
        batch: The batch size latency is measured at.
        opset: ONNX opset.
        protocol: Keyword arguments of :func:`hwnas.profiling.protocol.measure`.
        parts: Collects the failures (a fresh collection when ``None``).
        progress: Show training progress on stderr.

    Returns:
        One row per network: ``name``, ``built_from`` (the space's name or
        ``"handmade"``), ``arch`` (the architecture string, ``None`` when handmade),
        ``file`` (relative to ``out_dir``'s parent),
        ``val_accuracy``, ``test_accuracy``, ``measured_latency_ms``, ``macs``, ``params``,
        ``max_abs_diff``, ``train_seconds`` (``None`` where the part that gives it failed),
        and ``error`` (the first failed part and its error, or ``None``).
    """
    parts = parts if parts is not None else Parts()
    out = Path(out_dir)
    archs = space_baselines(space)
    rows = []
    for name in default_baselines(dataset.input_shape) if names is None else names:
        before = len(parts.failures)
        arch = archs.get(name)
        source = (space, arch) if space is not None and arch is not None else None
        row = _baseline(
            name,
            source,
            dataset,
            recipe,
            out,
            seed,
            runtime,
            batch,
            opset,
            protocol or {},
            parts,
            progress,
        )
        failed = parts.failures[before:]
        row["error"] = f"{failed[0].part}: {failed[0].error}" if failed else None
        rows.append(row)
    return rows


def _baseline(
    name: str,
    source: tuple[SearchSpace, str] | None,
    dataset: Dataset,
    recipe: Recipe,
    out: Path,
    seed: int,
    runtime: Any,
    batch: int,
    opset: int,
    protocol: Mapping[str, Any],
    parts: Parts,
    progress: bool,
) -> dict[str, Any]:
    from hwnas.export import PARITY_TOLERANCE, measure_latency_ms

    shape = dataset.input_shape
    row: dict[str, Any] = {
        "name": name,
        "built_from": HANDMADE if source is None else source[0].name,
        "arch": None if source is None else source[1],
        **dict.fromkeys(_FIELDS),
    }

    def part(step: str, fn: Callable[[], Any]) -> Any:
        return parts.attempt(f"baseline {name}: {step}", fn)

    vocab_size = _vocab_size(dataset)
    model = part(
        "build", lambda: _build(name, source, shape, dataset.num_classes, seed, vocab_size)
    )
    if model is None:
        return row
    trained = part("train", lambda: _train(name, model, dataset, recipe, seed, progress))
    if trained is None:
        return row
    row.update(trained)

    def export() -> dict[str, Any]:
        from hwnas.errors import HwnasError
        from hwnas.onnx_export import export_onnx, onnx_parity

        path = export_onnx(
            model,
            out / f"{name}.onnx",
            shape,
            opset=opset,
            metadata={"hwnas.baseline": name, "hwnas.test_accuracy": f"{row['test_accuracy']:.6f}"},
        )
        diff = onnx_parity(model, path, dataset.val.x[:64])
        if diff > PARITY_TOLERANCE:
            raise HwnasError(
                f"{path}: onnxruntime differs from PyTorch by {diff:.2e} (> {PARITY_TOLERANCE})"
            )
        return {"file": str(path.relative_to(out.parent)), "max_abs_diff": diff}

    row.update(part("export", export) or {})
    if runtime is not None:
        row["measured_latency_ms"] = part(
            "measure", lambda: measure_latency_ms(runtime, model.eval(), shape, batch, **protocol)
        )
    return row


def _exported_networks(space: SearchSpace, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The hand-designed networks of ``space`` that export trained (with this very recipe
    and seed): their rows, by name, with the figures and file of export's model:
    ``same_as_export`` names it when export kept it, ``trained_by_export`` when it did
    not (its ``not_kept`` entry). Training and measuring them again would give the same
    accuracy and a second draw of the latency noise: in one ``make run`` on this project's
    VM, LeNet-5 measured 0.0347 ms in export and 0.0305 ms when trained again for the
    report, and a model export had measured 11 % faster than it (0.0307 ms) came out
    slower."""
    kept = {str(space.network_key(space.parse(m["arch"]))): m for m in manifest["models"]}
    others = {
        str(space.network_key(space.parse(m["arch"]))): m
        for m in manifest.get("not_kept", [])
        if m.get("hand_designed") and m.get("file")
    }
    rows = {}
    for name, arch in space_baselines(space).items():
        key = str(space.network_key(space.parse(arch)))
        model = kept.get(key, others.get(key))
        if model is None:
            continue
        rows[name] = {
            "name": name,
            "built_from": space.name,
            "arch": arch,
            **{field: model.get(field) for field in _FIELDS},
            "file": model["file"],
            "error": None,
            ("same_as_export" if key in kept else "trained_by_export"): model["name"],
        }
    return rows


def _vocab_size(dataset: Dataset) -> int | None:
    """The embedding size of a hand-made text network: the vocabulary's, but at least the
    text default (as the ``transformer`` space's), so that random ids measure (``None``
    for images)."""
    from hwnas.nn.handmade import DEFAULT_VOCAB

    if dataset.vocabulary is None:
        return None
    return max(len(dataset.vocabulary), DEFAULT_VOCAB)


def _build(
    name: str,
    source: tuple[SearchSpace, str] | None,
    shape: tuple[int, ...],
    classes: int,
    seed: int,
    vocab_size: int | None = None,
) -> nn.Module:
    import torch

    from hwnas.nn.build import build_model
    from hwnas.nn.handmade import build_handmade

    # The weights depend on the seed only, never on the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if source is None:
            vocab = {} if vocab_size is None else {"vocab_size": vocab_size}
            return build_handmade(name, shape, classes, **vocab)
        space, arch = source
        return build_model(space, space.parse(arch), shape, classes)


def _train(
    name: str, model: nn.Module, dataset: Dataset, recipe: Recipe, seed: int, progress: bool
) -> dict[str, Any]:
    from hwnas.costs import count_costs
    from hwnas.train import evaluate, train_model

    started = time.perf_counter()
    result = train_model(model, dataset, recipe, seed=seed, progress=progress, description=name)
    seconds = time.perf_counter() - started
    test_accuracy, _ = evaluate(model, dataset.test)
    costs = count_costs(model, dataset.input_shape)
    return {
        "val_accuracy": result.val_accuracy,
        "test_accuracy": test_accuracy,
        "macs": costs.macs,
        "params": costs.params,
        "train_seconds": round(seconds, 2),
    }


def run_baselines(
    run_dir: str | Path,
    *,
    names: Sequence[str] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    measure: bool = True,
    protocol: Mapping[str, Any] | None = None,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train, export and measure the hand-designed networks of ``run_dir``.

    The recipe and seed are those of the run's export (``export/manifest.json``), so the
    networks are trained exactly as the exported models were; before an export, the
    config's export epochs and seed. A network that export trained (``hand_designed``) is
    not trained again: its row is that model's (``same_as_export`` when export kept it,
    ``trained_by_export`` when it did not, its files left in place for this).
    Failed parts are recorded, never raised.

    Args:
        run_dir: A run folder (``runs/<id>``).
        names: The networks (default: :func:`default_baselines` of the run's data);
            networks for the other kind of input are not attempted (``skipped``).
        epochs: Training epochs (default: the export's).
        seed: Training seed (default: the export's).
        measure: Measure latency on the run's runtime (it must be available here).
        protocol: Keyword arguments of :func:`hwnas.profiling.protocol.measure` (default:
            the run's ``device.protocol``).
        progress: Show training progress on stderr.
        say: Called with one line per failed part.

    Returns:
        What ``runs/<id>/export/baselines.json`` holds: ``recipe``, ``seed``,
        ``measured_on``, ``baselines`` (the rows of :func:`train_baselines`),
        ``skipped`` (``name`` and ``reason`` of each network not attempted; only when
        there is one) and ``failures`` (``part`` and ``error`` of each failed part).

    Raises:
        HwnasError: A missing or corrupted run folder or manifest.
    """
    from hwnas.export import load_manifest, target_runtime
    from hwnas.export.run import export_recipe
    from hwnas.runs import open_run
    from hwnas.train import Recipe

    run = open_run(run_dir)
    config, dataset = run.config, run.components.dataset
    manifest = load_manifest(run.path)
    if manifest is not None:
        recipe = Recipe(**manifest["recipe"])
        seed = manifest["seed"] if seed is None else seed
    else:
        recipe = export_recipe(config, config.export.epochs)
        seed = config.seed if seed is None else seed
    if epochs is not None:
        recipe = Recipe(**{**recipe.to_dict(), "epochs": epochs})
    parts = Parts(say)
    runtime = parts.attempt("latency runtime", lambda: target_runtime(config)) if measure else None
    out_dir = run.path / "export"
    names, skipped = fitting_baselines(
        default_baselines(dataset.input_shape) if names is None else names, dataset.input_shape
    )
    if not names:
        # Nothing that reads this data: refused before baselines.json (an earlier, good
        # one) is written over with an empty list.
        from hwnas.errors import ConfigError

        fitting = ", ".join(default_baselines(dataset.input_shape))
        raise ConfigError(
            "--only",
            f"networks that read this run's data ({fitting})",
            ", ".join(s["name"] for s in skipped),
        )
    for s in skipped:
        if say is not None:
            say(f"baseline {s['name']} not attempted: {s['reason']}")
    space = run.components.space
    exported = (
        {}
        if manifest is None or epochs is not None or seed != manifest["seed"]
        else _exported_networks(space, manifest)
    )
    trained = train_baselines(
        dataset,
        recipe,
        out_dir / "baselines",
        seed=seed,
        names=[n for n in names if n not in exported],
        space=space,
        runtime=runtime,
        batch=config.device.batch if config.device is not None else 1,
        protocol=config.protocol() if protocol is None else protocol,
        parts=parts,
        progress=progress,
    )
    by_name = {row["name"]: row for row in trained} | exported
    rows = [by_name[n] for n in names if n in by_name]
    data = {
        "run": str(run.path),
        "input_shape": list(dataset.input_shape),
        "recipe": recipe.to_dict(),
        "seed": seed,
        "measured_on": None if runtime is None else runtime.name,
        "baselines": rows,
        **({"skipped": skipped} if skipped else {}),
        "failures": parts.to_list(),
    }
    atomic_write_json(out_dir / BASELINES_FILE, data)
    return data
